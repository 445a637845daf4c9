package maildir

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/dormouse/dormouse/mailstore"
)

// flagCache shares one Flags slice among messages with the same flags:
// a view of 100,000 messages usually has a handful of distinct sets.
// Callers must treat Message.Flags as read-only.
type flagCache struct {
	plain  [32][]string        // by system bits, for the usual no-keyword case
	withKw map[string][]string // by system bits and keywords
}

func (fc *flagCache) get(fs flagSet) []string {
	if len(fs.keywords) == 0 {
		if l := fc.plain[fs.sys&31]; l != nil {
			return l
		}
		l := fs.list()
		fc.plain[fs.sys&31] = l
		return l
	}
	if fc.withKw == nil {
		fc.withKw = map[string][]string{}
	}
	key := string(rune(fs.sys)) + strings.Join(fs.keywords, " ")
	if l, ok := fc.withKw[key]; ok {
		return l
	}
	l := fs.list()
	fc.withKw[key] = l
	return l
}

// ClaimRecent claims \Recent for a session that keeps no View
// (mailstore.RecentClaimer): a hibernated connection told of new mail.
func (h *mailboxHandle) ClaimRecent(ctx context.Context, upTo uint32) (from, to uint32, err error) {
	if from, to, err = h.claimRecent(upTo); err != nil {
		return 0, 0, fmt.Errorf("claim recent in %s: %w", h.name, err)
	}
	return from, to, nil
}

// View returns every message of the mailbox at one MODSEQ. The Flags
// slices of its messages are shared between messages: read-only.
func (h *mailboxHandle) View(ctx context.Context, claim bool) (*mailstore.View, error) {
	v := &mailstore.View{}
	var first uint32
	err := h.view(func(m *mboxTx) error {
		first = m.meta.firstRecent
		v.UIDValidity = m.meta.uidValidity
		v.UIDNext = m.meta.uidNext
		v.HighestModSeq = m.meta.highestModSeq
		v.Keywords = append([]string(nil), m.meta.keywords...)
		v.Messages = h.u.lookupList(m.id, m.meta)
		if v.Messages == nil {
			var err error
			if v.Messages, err = m.messageList(); err != nil {
				return err
			}
			h.u.keepList(m.id, m.meta, v.Messages)
		}
		v.Shared = len(v.Messages) > 0
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", h.name, err)
	}
	if claim {
		// After the read: the view claims what it holds (recent.go).
		from, to := h.u.claim(h.id, first, v.UIDNext)
		for _, msg := range v.Messages {
			if msg.UID >= from && msg.UID < to {
				v.Recent = append(v.Recent, msg.UID)
			}
		}
	}
	h.mu.Lock()
	if h.views != nil {
		h.views[v] = claim
	}
	h.mu.Unlock()
	return v, nil
}

// messageList reads every message record of the mailbox.
func (m *mboxTx) messageList() ([]mailstore.Message, error) {
	msgs := make([]mailstore.Message, 0, m.meta.messages)
	fc := &flagCache{}
	c := m.msgs.Cursor()
	for k, val := c.First(); k != nil; k, val = c.Next() {
		r, err := decodeRec(beUint32(k), val, false)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, r.message(fc.get(r.flags)))
	}
	// Shared lists must not grow in place (View.Own).
	return msgs[:len(msgs):len(msgs)], nil
}

// delta is what Refresh reads from the index in one read transaction.
type delta struct {
	uidValidity, uidNext uint32
	highestModSeq        uint64
	keywords             []string
	changed              []msgRec // MODSEQ > the view's, ascending by UID
	expunged             []uint32 // ascending; may hold UIDs the view never had
	// allUIDs is set instead of expunged when the expunge log does not
	// reach back far enough: the current UID list, to compare.
	allUIDs []uint32
	full    bool
}

// Refresh brings v up to date from the MODSEQ index and the expunge log:
// the work is proportional to what changed, plus one pass over the view's
// slice when messages were expunged.
func (h *mailboxHandle) Refresh(ctx context.Context, v *mailstore.View) (mailstore.Update, error) {
	var d delta
	err := h.view(func(m *mboxTx) error {
		var err error
		d.uidValidity, d.uidNext, d.highestModSeq = m.meta.uidValidity, m.meta.uidNext, m.meta.highestModSeq
		if d.uidValidity != v.UIDValidity || (d.highestModSeq == v.HighestModSeq && d.uidNext == v.UIDNext) {
			return nil
		}
		d.keywords = m.meta.keywords
		if d.changed, err = m.changedSince(v.HighestModSeq); err != nil {
			return err
		}
		if v.HighestModSeq < m.meta.expungeFloor {
			d.full = true
			return m.msgs.ForEach(func(k, _ []byte) error {
				d.allUIDs = append(d.allUIDs, beUint32(k))
				return nil
			})
		}
		d.expunged = m.expungedSince(v.HighestModSeq)
		return nil
	})
	if err != nil {
		return mailstore.Update{}, fmt.Errorf("refresh %s: %w", h.name, err)
	}
	if d.uidValidity != v.UIDValidity {
		return mailstore.Update{}, fmt.Errorf("refresh %s: %w", h.name, mailstore.ErrUIDValidity)
	}
	if d.highestModSeq == v.HighestModSeq && d.uidNext == v.UIDNext {
		return mailstore.Update{}, nil
	}
	upd := applyDelta(v, &d)
	h.mu.Lock()
	claim := h.views[v]
	h.mu.Unlock()
	if claim && upd.Added > 0 {
		from, to, err := h.claimRecent(v.UIDNext)
		if err != nil {
			return upd, fmt.Errorf("refresh %s: %w", h.name, err)
		}
		for _, m := range v.Messages[len(v.Messages)-upd.Added:] {
			if m.UID >= from && m.UID < to {
				v.Recent = append(v.Recent, m.UID)
				upd.AddedRecent++
			}
		}
	}
	return upd, nil
}

// applyDelta changes v in place and reports the change.
func applyDelta(v *mailstore.View, d *delta) mailstore.Update {
	v.Own()
	var upd mailstore.Update
	oldNext := v.UIDNext
	gone := map[uint32]bool{}
	if d.full {
		present := make(map[uint32]bool, len(d.allUIDs))
		for _, u := range d.allUIDs {
			present[u] = true
		}
		for _, m := range v.Messages {
			if !present[m.UID] {
				gone[m.UID] = true
			}
		}
	} else {
		for _, u := range d.expunged {
			if _, ok := findUID(v.Messages, u); ok {
				gone[u] = true
			}
		}
	}
	if len(gone) > 0 {
		kept := v.Messages[:0]
		for i, m := range v.Messages {
			if gone[m.UID] {
				upd.ExpungedSeqs = append(upd.ExpungedSeqs, uint32(i+1))
				upd.ExpungedUIDs = append(upd.ExpungedUIDs, m.UID)
				continue
			}
			kept = append(kept, m)
		}
		// Clear the tail so dropped records can be collected.
		for i := len(kept); i < len(v.Messages); i++ {
			v.Messages[i] = mailstore.Message{}
		}
		v.Messages = kept
		// RFC 9051 7.5.1: EXPUNGE responses highest first need no
		// renumbering.
		for i, j := 0, len(upd.ExpungedSeqs)-1; i < j; i, j = i+1, j-1 {
			upd.ExpungedSeqs[i], upd.ExpungedSeqs[j] = upd.ExpungedSeqs[j], upd.ExpungedSeqs[i]
		}
		recent := v.Recent[:0]
		for _, u := range v.Recent {
			if !gone[u] {
				recent = append(recent, u)
			}
		}
		v.Recent = recent
	}
	fc := &flagCache{}
	var added []mailstore.Message
	for i := range d.changed {
		r := &d.changed[i]
		msg := r.message(fc.get(r.flags))
		if r.uid >= oldNext {
			added = append(added, msg)
			continue
		}
		if i, ok := findUID(v.Messages, r.uid); ok {
			v.Messages[i] = msg
			upd.Changed = append(upd.Changed, uint32(i+1))
		}
	}
	sort.Slice(upd.Changed, func(i, j int) bool { return upd.Changed[i] < upd.Changed[j] })
	v.Messages = append(v.Messages, added...)
	upd.Added = len(added)
	if len(d.keywords) > len(v.Keywords) {
		upd.KeywordsChanged = true
	}
	v.Keywords = append(v.Keywords[:0:0], d.keywords...)
	v.UIDNext, v.HighestModSeq = d.uidNext, d.highestModSeq
	return upd
}

// findUID finds a UID in messages sorted by UID.
func findUID(msgs []mailstore.Message, uid uint32) (int, bool) {
	i := sort.Search(len(msgs), func(i int) bool { return msgs[i].UID >= uid })
	return i, i < len(msgs) && msgs[i].UID == uid
}
