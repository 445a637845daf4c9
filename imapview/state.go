package imapview

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// A hibernated session is its View serialised into a hibernate.State:
// S (the UIDs, as ranges), M (HighestModSeq), N (UIDNext), the count and
// read-only in the State's own fields, and the rest of the view as
// extension states, so that the view restored is the one the session had
// and the updates it is sent are byte for byte those an awake session
// would send (docs/design.md, "The state blob").
const (
	// extRecent: the UIDs recent for this view (IMAP4rev1 \Recent), as
	// ranges; a new view cannot recompute them, because the claim that
	// made them recent is spent (RFC 3501 2.3.2).
	extRecent uint32 = 1
	// extKeywords: how many keywords the view knew; Apply reports FLAGS
	// when the mailbox's set grew past it (RFC 9051 7.3.5).
	extKeywords uint32 = 2
	// extTold: (UID, MODSEQ) of flag changes the session reported itself
	// and must not report again (View.told).
	extTold uint32 = 3
	// extSaved: the SEARCHRES result "$" (RFC 5182), as ranges.
	extSaved uint32 = 4
	// extContexts: the live search contexts (RFC 5267 4.3), with a
	// layout version of their own (contextstate.go).
	extContexts uint32 = 5
	// extExistsUnheard: View.ExistsUnheard is set (no data).
	extExistsUnheard uint32 = 6
	// extHeldBack: the client was told a HIGHESTMODSEQ below its
	// FETCHes' MODSEQs while expunges were pending (View.heldBack; no
	// data): the next Apply, asleep too, tells the new one.
	extHeldBack uint32 = 7
)

// Export writes v into st: UIDValidity, S, M, N, the count, read-only,
// and the view's extension states (which it replaces; the kinds from
// hibernate.ExtDeflateWindow up belong to the transport and are kept).
func (v *View) Export(st *hibernate.State) {
	st.UIDValidity = v.UIDValidity
	st.HighestModSeq = v.HighestModSeq
	st.UIDNext = v.UIDNext
	st.ReadOnly = v.ReadOnly
	if v.asleep {
		st.UIDs = slices.Clone(v.ranges)
		st.Messages = v.count
	} else {
		st.UIDs = nil
		for uid := range v.Messages.UIDs() {
			st.UIDs = addUID(st.UIDs, uid)
		}
		st.Messages = uint32(v.Messages.Len())
	}
	var ext []hibernate.ExtState
	if len(v.Recent) > 0 {
		ext = append(ext, hibernate.ExtState{Kind: extRecent, Data: appendRanges(nil, v.Recent)})
	}
	if v.keywords > 0 {
		ext = append(ext, hibernate.ExtState{Kind: extKeywords, Data: binary.AppendUvarint(nil, uint64(v.keywords))})
	}
	if len(v.told) > 0 {
		ext = append(ext, hibernate.ExtState{Kind: extTold, Data: appendTold(nil, v.told)})
	}
	if v.Saved != nil {
		ext = append(ext, hibernate.ExtState{Kind: extSaved, Data: appendRanges(nil, v.Saved)})
	}
	if len(v.contexts) > 0 {
		ext = append(ext, hibernate.ExtState{Kind: extContexts, Data: appendContexts(nil, v.contexts)})
	}
	if v.ExistsUnheard {
		ext = append(ext, hibernate.ExtState{Kind: extExistsUnheard})
	}
	if v.heldBack {
		ext = append(ext, hibernate.ExtState{Kind: extHeldBack})
	}
	for _, x := range st.ExtState {
		if x.Kind >= hibernate.ExtSession {
			ext = append(ext, x)
		}
	}
	st.ExtState = ext
}

// FromState returns the view st holds, without records: a sleeper's,
// which Apply updates in place, or the start of Restore.
func FromState(st *hibernate.State) (*View, error) {
	v := &View{
		UIDValidity:   st.UIDValidity,
		UIDNext:       st.UIDNext,
		HighestModSeq: st.HighestModSeq,
		ReadOnly:      st.ReadOnly,
		asleep:        true,
		ranges:        slices.Clone(st.UIDs),
		count:         st.Messages,
	}
	var err error
	for _, x := range st.ExtState {
		switch x.Kind {
		case extRecent:
			v.Recent, err = parseRanges(x.Data)
		case extKeywords:
			d := uvarints{b: x.Data}
			v.keywords, err = int(d.next()), d.err
		case extTold:
			v.told, err = parseTold(x.Data)
		case extSaved:
			v.Saved, err = parseRanges(x.Data)
		case extContexts:
			v.contexts, err = parseContexts(x.Data)
		case extExistsUnheard:
			v.ExistsUnheard = true
		case extHeldBack:
			v.heldBack = true
		}
		if err != nil {
			return nil, fmt.Errorf("state of %s: extension %d: %w", st.Mailbox, x.Kind, err)
		}
	}
	if len(v.Recent) == 0 {
		v.Recent = nil
	}
	return v, nil
}

// Restore gives an asleep view its records again, for a session woken
// to run commands: snap is the mailbox now, expunged the records the
// expunge log keeps of messages expunged after v.HighestModSeq (asked
// only when a UID of the view is missing from snap; it may return none).
// The view is the one the session had, but for the records of messages
// changed after M, which are the store's newer ones: the next Apply
// reports them, or TellFlags before a command that cannot apply changes,
// as for an awake view. Those expunged keep the records the expunge log
// holds, so that a FETCH, STORE or SEARCH still sees them until Apply
// removes them (RFC 9051 7.5.1).
// A view whose mailbox has not changed since shares snap's list.
func (v *View) Restore(snap mailstore.Snapshot, expunged func() ([]mailstore.Message, error)) error {
	if !v.asleep {
		return errors.New("restore: the view has its records")
	}
	if v.UIDValidity != snap.UIDValidity {
		return fmt.Errorf("restore: %w", mailstore.ErrUIDValidity)
	}
	if v.UIDNext > snap.UIDNext {
		// The blob knows UIDs this mailbox never gave out (UIDNEXT only
		// grows, and a sleeper is told of a UID only once it lasts): not
		// this mailbox's view, and its ranges, which Restore walks UID
		// by UID, are not bounded by the mailbox.
		return fmt.Errorf("restore: %w: UIDNEXT %d, the mailbox's %d", ErrForeignState, v.UIDNext, snap.UIDNext)
	}
	v.Keywords = snap.Keywords
	if len(v.Keywords) > v.keywords {
		// Only the count matters until Apply replaces the list: the set
		// only grows, and every growth moves HIGHESTMODSEQ.
		v.Keywords = v.Keywords[:v.keywords:v.keywords]
	}
	if snap.HighestModSeq == v.HighestModSeq && snap.UIDNext == v.UIDNext && snap.Messages.Len() == int(v.count) {
		// Nothing changed since M: S is the mailbox's UID list.
		v.Messages = snap.Messages.Share()
		v.asleep, v.ranges, v.count = false, nil, 0
		return nil
	}
	fresh := &snap.Messages
	var msgs mailstore.ListBuilder
	msgs.Grow(int(v.count))
	var gone []mailstore.Message
	j, g := 0, 0
	for _, r := range v.ranges {
		for uid := r.First; ; uid++ {
			for j < fresh.Len() && fresh.UID(j) < uid {
				j++
			}
			var m mailstore.Message
			switch {
			case j < fresh.Len() && fresh.UID(j) == uid:
				m = fresh.At(j)
			default:
				if gone == nil {
					var err error
					if gone, err = expunged(); err != nil {
						return fmt.Errorf("restore: %w", err)
					}
					if gone == nil {
						gone = []mailstore.Message{}
					}
				}
				for g < len(gone) && gone[g].UID < uid {
					g++
				}
				if g < len(gone) && gone[g].UID == uid {
					m = gone[g]
				} else {
					m = mailstore.Message{UID: uid}
				}
			}
			msgs.Add(m)
			if uid == r.Last {
				break
			}
		}
	}
	v.Messages = msgs.List()
	v.asleep, v.ranges, v.count = false, nil, 0
	return nil
}

// appendRanges encodes ascending UIDs as a count of ranges, then per range
// the gap from the previous end and the span, like the blob's own S.
func appendRanges(b []byte, uids []uint32) []byte {
	var rs []hibernate.UIDRange
	for _, u := range uids {
		rs = addUID(rs, u)
	}
	b = binary.AppendUvarint(b, uint64(len(rs)))
	var prev uint32
	for _, r := range rs {
		b = binary.AppendUvarint(b, uint64(r.First-prev))
		b = binary.AppendUvarint(b, uint64(r.Last-r.First))
		prev = r.Last + 1
	}
	return b
}

// ExistsAgain is, for a sleeper starting an IDLE in state st (after the
// updates sent before it), what the IDLE of an awake session says first
// when its view is marked ExistsUnheard (imapserver/reannounce.go): the
// line to write, and the state without the mark; nil when st is not
// marked. A proxy that answers IDLE for a sleeper asks it too.
func ExistsAgain(st *hibernate.State) ([]byte, *hibernate.State) {
	if st.Mailbox == "" {
		return nil, nil
	}
	v, err := FromState(st)
	if err != nil || !v.ExistsUnheard {
		return nil, nil
	}
	v.ExistsUnheard = false
	next := *st
	v.Export(&next)
	return fmt.Appendf(nil, "* %d EXISTS\r\n", v.Len()), &next
}

var errBadExt = errors.New("corrupt extension state")

// ErrForeignState says a state blob cannot be the view of the mailbox it
// names: it knows of UIDs the mailbox never had.
var ErrForeignState = errors.New("state of another mailbox")

// uvarints reads uvarints from b.
type uvarints struct {
	b   []byte
	err error
}

func (d *uvarints) next() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadExt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// parseRanges decodes appendRanges; the result is never nil.
func parseRanges(b []byte) ([]uint32, error) {
	d := uvarints{b: b}
	uids := d.ranges()
	return uids, d.err
}

// ranges reads what appendRanges wrote; the result is never nil.
func (d *uvarints) ranges() []uint32 {
	n := d.next()
	uids := []uint32{}
	var prev uint64
	for i := uint64(0); i < n && d.err == nil; i++ {
		first := prev + d.next()
		last := first + d.next()
		if last > 1<<32-1 || uint64(len(uids))+last-first > 1<<24 {
			d.err = errBadExt
			return nil
		}
		for u := first; u <= last; u++ {
			uids = append(uids, uint32(u))
		}
		prev = last + 1
	}
	return uids
}

// appendTold encodes View.told sorted by UID, so one map has one encoding.
func appendTold(b []byte, told map[uint32]uint64) []byte {
	uids := make([]uint32, 0, len(told))
	for u := range told {
		uids = append(uids, u)
	}
	slices.Sort(uids)
	b = binary.AppendUvarint(b, uint64(len(uids)))
	var prev uint32
	for _, u := range uids {
		b = binary.AppendUvarint(b, uint64(u-prev))
		b = binary.AppendUvarint(b, told[u])
		prev = u
	}
	return b
}

func parseTold(b []byte) (map[uint32]uint64, error) {
	d := uvarints{b: b}
	n := d.next()
	told := make(map[uint32]uint64)
	var prev uint64
	for i := uint64(0); i < n && d.err == nil; i++ {
		prev += d.next()
		told[uint32(prev)] = d.next()
	}
	return told, d.err
}
