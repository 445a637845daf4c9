package imapview

import (
	"fmt"
	"slices"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// Update is what Apply changed in a view, in the terms the client is
// told: the encoder writes EXPUNGE (or VANISHED), FLAGS, EXISTS, RECENT
// and FETCH from it, in that order (RFC 9051 7, 7.5.1).
type Update struct {
	// ExpungedSeqs are the sequence numbers of removed messages in the old
	// numbering, descending, so that EXPUNGE responses can be sent in this
	// order without renumbering (RFC 9051 7.5.1).
	ExpungedSeqs []uint32
	// ExpungedUIDs are the same messages' UIDs, ascending (VANISHED).
	ExpungedUIDs []uint32
	// Added counts messages appended at the end of the view.
	Added int
	// Exists and Recent are the view's message and \Recent counts after
	// the change.
	Exists, Recent int
	// Keywords is the mailbox's keyword set when it grew (FLAGS), else nil.
	Keywords []string
	// Changed are the kept messages whose flags or MODSEQ changed and that
	// the session has not reported itself, in the new numbering,
	// ascending.
	Changed []Fetch
	// Contexts are the changes to the live search contexts' results
	// (RFC 5267 4.3), for ESEARCH ADDTO and REMOVEFROM.
	Contexts []ContextUpdate
	// HighestModSeq is the view's new HIGHESTMODSEQ when the change
	// moved it above every MODSEQ the client is or was told in a FETCH
	// (Changed, and what the session reported itself), else 0: a
	// CONDSTORE client learns of it only from an OK [HIGHESTMODSEQ]
	// (RFC 7162 3.1.2.1), as after EXISTS or EXPUNGE. Dovecot decides
	// the same way; a client left with a stale one sees its UID STORE
	// (UNCHANGEDSINCE) fail with MODIFIED for a message it knows. Also
	// set whenever it moved after the client was told a lower one
	// while expunges were pending (View.HeldBack).
	HighestModSeq uint64
}

// Fetch is a message and its sequence number, for a FETCH FLAGS update.
type Fetch struct {
	Seq uint32
	Msg mailstore.Message
}

// ClaimFunc claims IMAP4rev1 \Recent for the view up to upTo, the UIDNEXT
// it learns, as mailstore.RecentClaimer does: [from, to) are the caller's.
type ClaimFunc func(upTo uint32) (from, to uint32, err error)

// Apply brings v up to date with ch, the store's changes since
// v.HighestModSeq (mailstore.Mailbox.ChangesSince, or Diff when the
// expunge log does not reach back), and returns what the client must be
// told. It is the one place a store change meets a view, awake (with
// records) or asleep (UID ranges only): expunged UIDs leave it, changed
// records with UIDs from UIDNEXT on are new messages at its end, the
// others, when in the view, are flag changes. New messages are claimed
// \Recent through claim unless the view is read-only. The cost is that of
// the change, plus one pass over the view's records (or ranges) when
// messages were expunged. ErrUIDValidity says the mailbox was recreated:
// the view must be dropped.
func (v *View) Apply(ch mailstore.Changes, claim ClaimFunc) (Update, error) {
	if ch.UIDValidity != v.UIDValidity {
		return Update{}, fmt.Errorf("apply: %w", mailstore.ErrUIDValidity)
	}
	told, heldBack := v.told, v.heldBack
	v.told, v.heldBack = nil, false
	old := v.HighestModSeq
	if ch.HighestModSeq <= v.HighestModSeq && ch.UIDNext <= v.UIDNext {
		return Update{Exists: v.Len(), Recent: len(v.Recent)}, nil
	}
	if len(v.contexts) > 0 && v.Eval == nil && v.contextsNeedEval(ch) {
		v.told, v.heldBack = told, heldBack
		return Update{}, fmt.Errorf("apply: %w", errNeedsEval)
	}
	var up Update
	var base []uint32
	if v.asleep {
		base = rangeBases(v.ranges)
	}
	seqOf := func(uid uint32) uint32 {
		if v.asleep {
			return seqInRangesWith(v.ranges, base, uid)
		}
		if i, ok := v.Messages.Find(uid); ok {
			return uint32(i + 1)
		}
		return 0
	}
	// Expunged UIDs the view holds, with their sequence numbers.
	for _, u := range ch.Expunged {
		if s := seqOf(u); s > 0 {
			up.ExpungedUIDs = append(up.ExpungedUIDs, u)
			up.ExpungedSeqs = append(up.ExpungedSeqs, s)
		}
	}
	// Changed records: flag changes of kept messages, renumbered after the
	// expunges, and new messages.
	added := v.NewIn(ch)
	g := 0
	for _, m := range ch.Changed {
		if m.UID >= v.UIDNext {
			continue // in added
		}
		s := seqOf(m.UID)
		if s == 0 {
			continue // not in the view
		}
		for g < len(up.ExpungedUIDs) && up.ExpungedUIDs[g] < m.UID {
			g++
		}
		if g < len(up.ExpungedUIDs) && up.ExpungedUIDs[g] == m.UID {
			continue
		}
		up.Changed = append(up.Changed, Fetch{Seq: s - uint32(g), Msg: m})
	}
	v.remove(up.ExpungedUIDs)
	for _, f := range up.Changed {
		if !v.asleep {
			v.Messages.Set(int(f.Seq-1), f.Msg)
		}
	}
	v.add(added)
	up.Added = len(added)
	var oldSeqs []uint32
	if len(v.contexts) > 0 {
		oldSeqs = slices.Clone(up.ExpungedSeqs)
	}
	// RFC 9051 7.5.1: EXPUNGE responses highest first need no renumbering.
	for i, j := 0, len(up.ExpungedSeqs)-1; i < j; i, j = i+1, j-1 {
		up.ExpungedSeqs[i], up.ExpungedSeqs[j] = up.ExpungedSeqs[j], up.ExpungedSeqs[i]
	}

	if n := len(added); n > 0 {
		v.UIDNext = max(v.UIDNext, added[n-1].UID+1)
	}
	v.UIDNext = max(v.UIDNext, ch.UIDNext)
	v.HighestModSeq = max(v.HighestModSeq, ch.HighestModSeq)

	v.Recent = removeUIDs(v.Recent, up.ExpungedUIDs)
	if len(added) > 0 && !v.ReadOnly && claim != nil {
		// The view claims what it learns (RFC 3501 2.3.2): up to the
		// UIDNEXT it now knows; a later message stays for whoever
		// learns it first.
		from, to, err := claim(v.UIDNext)
		if err != nil {
			return up, fmt.Errorf("apply: claim \\Recent: %w", err)
		}
		for _, m := range added {
			if m.UID >= from && m.UID < to {
				v.Recent = append(v.Recent, m.UID)
			}
		}
	}
	if len(ch.Keywords) > v.keywords {
		up.Keywords = ch.Keywords
	}
	if !v.asleep {
		v.Keywords = ch.Keywords
	}
	v.keywords = max(v.keywords, len(ch.Keywords))
	// The saved search result keeps only UIDs that still exist (RFC 5182 2.1).
	if v.Saved != nil {
		v.Saved = removeUIDs(v.Saved, up.ExpungedUIDs)
	}
	if len(v.contexts) > 0 {
		// Every changed record counts here, those the session reported
		// itself too: its own STORE can move a message in or out of a
		// result (RFC 5267 4.3).
		var err error
		if up.Contexts, err = v.applyContexts(up.ExpungedUIDs, oldSeqs, up.Changed, added); err != nil {
			return up, fmt.Errorf("apply: %w", err)
		}
	}
	// What the session reported itself is not reported again.
	var fetched uint64 // the highest MODSEQ a FETCH tells, or told
	kept := up.Changed[:0]
	for _, f := range up.Changed {
		fetched = max(fetched, f.Msg.ModSeq)
		if t, ok := told[f.Msg.UID]; ok && t == f.Msg.ModSeq {
			continue
		}
		kept = append(kept, f)
	}
	up.Changed = kept
	if v.HighestModSeq > old && (v.HighestModSeq > fetched || heldBack) {
		up.HighestModSeq = v.HighestModSeq
	}
	up.Exists, up.Recent = v.Len(), len(v.Recent)
	return up, nil
}

// NewIn returns the records of ch that Apply adds at the end of v, in
// order: those with UIDs from its UIDNEXT on.
func (v *View) NewIn(ch mailstore.Changes) []mailstore.Message {
	var added []mailstore.Message
	for _, m := range ch.Changed {
		if m.UID >= v.UIDNext {
			added = append(added, m)
		}
	}
	return added
}

// remove takes the messages of gone (ascending UIDs the view holds) out.
func (v *View) remove(gone []uint32) {
	if len(gone) == 0 {
		return
	}
	if v.asleep {
		v.ranges = removeFromRanges(v.ranges, gone)
		v.count -= uint32(len(gone))
		return
	}
	v.Messages.Remove(gone)
}

// add appends new messages, ascending UIDs above the view's.
func (v *View) add(msgs []mailstore.Message) {
	if len(msgs) == 0 {
		return
	}
	if v.asleep {
		for _, m := range msgs {
			v.ranges = addUID(v.ranges, m.UID)
		}
		v.count += uint32(len(msgs))
		return
	}
	v.Messages.Append(msgs)
}

// Diff returns the changes that bring v to snap, the mailbox as it is now,
// in the form of ChangesSince: for a view whose HIGHESTMODSEQ the expunge
// log no longer reaches back to (mailstore.ErrExpungeLogShort). Slower,
// still exact.
func (v *View) Diff(snap mailstore.Snapshot) mailstore.Changes {
	ch := mailstore.Changes{
		UIDValidity:   snap.UIDValidity,
		UIDNext:       snap.UIDNext,
		HighestModSeq: snap.HighestModSeq,
		Keywords:      snap.Keywords,
	}
	now := &snap.Messages
	visit := func(uid uint32) {
		if _, ok := now.Find(uid); !ok {
			ch.Expunged = append(ch.Expunged, uid)
		}
	}
	if v.asleep {
		for _, r := range v.ranges {
			for u := r.First; ; u++ {
				visit(u)
				if u == r.Last {
					break
				}
			}
		}
	} else {
		for uid := range v.Messages.UIDs() {
			visit(uid)
		}
	}
	for _, m := range now.All() {
		if m.ModSeq > v.HighestModSeq || m.UID >= v.UIDNext {
			ch.Changed = append(ch.Changed, m)
		}
	}
	return ch
}

// rangeBases returns, for each range, how many UIDs the ranges before it
// hold: the sequence number of its first UID, less one.
func rangeBases(rs []hibernate.UIDRange) []uint32 {
	base := make([]uint32, len(rs))
	var n uint32
	for i, r := range rs {
		base[i] = n
		n += r.Last - r.First + 1
	}
	return base
}

// seqInRanges returns the rank of uid in rs (1-based), or 0.
func seqInRanges(rs []hibernate.UIDRange, uid uint32) uint32 {
	return seqInRangesWith(rs, rangeBases(rs), uid)
}

func seqInRangesWith(rs []hibernate.UIDRange, base []uint32, uid uint32) uint32 {
	lo, hi := 0, len(rs)
	for lo < hi {
		m := (lo + hi) / 2
		if rs[m].Last < uid {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(rs) || uid < rs[lo].First {
		return 0
	}
	return base[lo] + uid - rs[lo].First + 1
}

// addUID extends rs, the ranges of ascending UIDs, by u.
func addUID(rs []hibernate.UIDRange, u uint32) []hibernate.UIDRange {
	if n := len(rs); n > 0 && rs[n-1].Last+1 == u {
		rs[n-1].Last = u
		return rs
	}
	return append(rs, hibernate.UIDRange{First: u, Last: u})
}

// removeFromRanges returns rs without the UIDs of gone (ascending, each
// in rs).
func removeFromRanges(rs []hibernate.UIDRange, gone []uint32) []hibernate.UIDRange {
	var out []hibernate.UIDRange
	g := 0
	for _, r := range rs {
		first, whole := r.First, true
		for g < len(gone) && gone[g] <= r.Last {
			u := gone[g]
			g++
			if u < first {
				continue
			}
			if u > first {
				out = append(out, hibernate.UIDRange{First: first, Last: u - 1})
			}
			if u == r.Last {
				whole = false
				break
			}
			first = u + 1
		}
		if whole {
			out = append(out, hibernate.UIDRange{First: first, Last: r.Last})
		}
	}
	return out
}
