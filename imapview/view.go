// Package imapview is the client's view of a selected mailbox, kept by
// the server: which UID each sequence number names, what the client has
// been told of flags and MODSEQ (told, untold), which messages are
// \Recent for it (IMAP4rev1), the SEARCHRES result, and the expunges it
// has not heard of yet. The store (mailstore) knows none of this: it
// speaks UIDs, MODSEQs, ChangesSince, the expunge log and events.
//
// A session that is awake holds a View with the records of its messages
// (flags, sizes, dates), shared with the other views of the same mailbox
// state until one changes them. A hibernated session is the same View
// without records, serialised into a hibernate.State: its UIDs as ranges
// and the rest as extension state (state.go). One function, View.Apply,
// brings either kind of view up to date with a store change and says
// what the client must be told; the server's encoder writes that.
package imapview

import (
	"cmp"
	"slices"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// View is a session's view of one mailbox. Only the session that owns it
// reads or changes it.
type View struct {
	UIDValidity   uint32
	UIDNext       uint32 // the UIDNEXT the client has learned
	HighestModSeq uint64 // the highest MODSEQ the client has been told
	// ReadOnly is set for EXAMINE and read-only SELECT: such a view never
	// claims \Recent (RFC 3501 6.3.2).
	ReadOnly bool

	// Messages are the records of the view's messages, ascending by UID:
	// sequence number i+1 is Messages.At(i). A message another session
	// expunged stays, as last seen, until Apply removes it (RFC 9051
	// 7.5.1). The list shares its blocks with other views (the store
	// hands one list to views of the same mailbox state) until the view
	// writes one: read it, and change it only through the View's
	// methods. A view without records (asleep) keeps its UIDs in ranges
	// instead.
	Messages mailstore.MessageList

	asleep bool                 // no records: ranges holds the UIDs
	ranges []hibernate.UIDRange // the UIDs of an asleep view
	count  uint32               // how many UIDs ranges holds

	// Recent holds the UIDs recent for this view, ascending (IMAP4rev1
	// \Recent: each message is recent in one session only, the first told
	// of it; RFC 3501 2.3.2).
	Recent []uint32
	// Keywords are the mailbox's keywords as the client knows them,
	// sorted (nil in an asleep view, which keeps only their number).
	Keywords []string
	keywords int // how many keywords the client knows: FLAGS when the set grows

	// Saved is the SEARCHRES result "$" (RFC 5182) as UIDs, ascending;
	// nil when no search saved one.
	Saved []uint32

	// contexts are the live search contexts (RFC 5267 4.3), which Apply
	// keeps current (context.go).
	contexts []*Context
	// Eval is the session's search and sort for contexts, set by the
	// owner of an awake view; an asleep view has none.
	Eval ContextEval
	// ExistsUnheard says an EXISTS went out during a command in which
	// the client may have ignored it (a FETCH of message bodies:
	// Thunderbird does): the session's next IDLE says the count again
	// (imapserver/reannounce.go).
	ExistsUnheard bool

	// told holds the MODSEQs of messages whose new flags the session has
	// reported itself (its own STORE, a FETCH that set \Seen, TellFlags),
	// so that the next Apply does not report them again. Emptied by each
	// Apply.
	told map[uint32]uint64
	// heldBack says the client was last told a HIGHESTMODSEQ below
	// MODSEQs its FETCHes carried, because expunges were pending
	// (HeldBack): the next Apply tells it the new one in any case.
	heldBack bool
}

// New returns the view of a session that opens a mailbox now, from the
// store's snapshot, whose message list it shares; recent are the UIDs the
// session claimed (mailstore.RecentClaimer), [from, to).
func New(snap mailstore.Snapshot, readOnly bool, from, to uint32) *View {
	v := &View{
		UIDValidity:   snap.UIDValidity,
		UIDNext:       snap.UIDNext,
		HighestModSeq: snap.HighestModSeq,
		ReadOnly:      readOnly,
		Messages:      snap.Messages.Share(),
		Keywords:      snap.Keywords,
		keywords:      len(snap.Keywords),
	}
	// The recent UIDs are a run of the list (UIDs ascend): found by
	// binary search, not by a walk over a million records.
	if from < to {
		for i, _ := v.Messages.Find(from); i < v.Messages.Len() && v.Messages.UID(i) < to; i++ {
			v.Recent = append(v.Recent, v.Messages.UID(i))
		}
	}
	return v
}

// Len returns the number of messages in the view.
func (v *View) Len() int {
	if v.asleep {
		return int(v.count)
	}
	return v.Messages.Len()
}

// SeqOf returns the sequence number of uid, or 0 when the view does not
// hold it.
func (v *View) SeqOf(uid uint32) uint32 {
	if v.asleep {
		return seqInRanges(v.ranges, uid)
	}
	i, ok := v.Messages.Find(uid)
	if !ok {
		return 0
	}
	return uint32(i + 1)
}

// UIDsOf returns the UIDs of sequence numbers of a view with records
// (1..Len).
func (v *View) UIDsOf(seqs []uint32) []uint32 {
	uids := make([]uint32, len(seqs))
	for i, s := range seqs {
		uids[i] = v.Messages.UID(int(s - 1))
	}
	return uids
}

// IsRecent reports whether uid is \Recent in this view.
func (v *View) IsRecent(uid uint32) bool {
	_, ok := slices.BinarySearch(v.Recent, uid)
	return ok
}

// AddKeywords records keywords the session made known itself (a STORE
// that added them, which writes FLAGS at once: RFC 9051 7.3.5), so that
// the next Apply does not report them again. kws must not be in
// v.Keywords.
func (v *View) AddKeywords(kws []string) {
	v.Keywords = append(slices.Clip(v.Keywords), kws...)
	slices.Sort(v.Keywords)
	v.keywords = len(v.Keywords)
}

// SetRecords puts records the session changed itself (its own STORE, a
// FETCH that set \Seen) into the view as told: the next Apply does not
// report them again. It returns the sequence numbers they have (0 for a
// record the view does not hold), in the order of recs.
func (v *View) SetRecords(recs []mailstore.Message) []uint32 {
	seqs := make([]uint32, len(recs))
	for i, m := range recs {
		j, ok := v.Messages.Find(m.UID)
		if !ok {
			continue
		}
		v.Messages.Set(j, m)
		seqs[i] = uint32(j + 1)
		v.markTold(m.UID, m.ModSeq)
	}
	return seqs
}

func (v *View) markTold(uid uint32, modseq uint64) {
	if v.told == nil {
		v.told = make(map[uint32]uint64)
	}
	v.told[uid] = modseq
}

// TellFlags applies the flag changes of ch, the store's changes since
// v.HighestModSeq, to the messages the view holds, and returns them as
// the FETCH responses that tell the client, marked told: before a command
// that cannot apply changes (a FETCH, STORE or SEARCH by sequence number,
// RFC 9051 7.5.1) reads the view, so that its answer agrees with what
// the client knows (RFC 9051 7.4 allows an unsolicited FETCH with any
// command). Expunges and new messages wait for Apply. A message expunged
// after a flag change the client was not told gets the record the
// expunge log keeps (expunged, asked only then), as a view rebuilt after
// hibernation holds it (Restore): an awake session and a woken one say
// the same.
func (v *View) TellFlags(ch mailstore.Changes, expunged func() ([]mailstore.Message, error)) ([]Fetch, error) {
	var out []Fetch
	tell := func(m mailstore.Message) {
		i, ok := v.Messages.Find(m.UID)
		if !ok || m.ModSeq <= v.HighestModSeq {
			return
		}
		if t, ok := v.told[m.UID]; ok && t == m.ModSeq {
			return
		}
		v.Messages.Set(i, m)
		v.markTold(m.UID, m.ModSeq)
		out = append(out, Fetch{Seq: uint32(i + 1), Msg: m})
	}
	for _, m := range ch.Changed {
		if m.UID < v.UIDNext {
			tell(m)
		}
	}
	var gone []mailstore.Message
	for _, u := range ch.Expunged {
		if v.SeqOf(u) == 0 {
			continue
		}
		if gone == nil {
			var err error
			if gone, err = expunged(); err != nil {
				return nil, err
			}
			if gone == nil {
				gone = []mailstore.Message{}
			}
		}
		if i, ok := slices.BinarySearchFunc(gone, u, func(m mailstore.Message, u uint32) int { return cmp.Compare(m.UID, u) }); ok {
			tell(gone[i])
		}
	}
	slices.SortFunc(out, func(a, b Fetch) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// removeUIDs returns the UIDs of a not in b; both ascending. It reuses a.
func removeUIDs(a, b []uint32) []uint32 {
	if len(b) == 0 {
		return a
	}
	out := a[:0]
	j := 0
	for _, u := range a {
		for j < len(b) && b[j] < u {
			j++
		}
		if j < len(b) && b[j] == u {
			continue
		}
		out = append(out, u)
	}
	return out
}
