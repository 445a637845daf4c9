package imapserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// Extension-state kinds this server stores in hibernate.State.ExtState.
// They carry the parts of the view that a replay needs beyond S, M and N
// (docs/design.md "The state blob"), so that the restored view is the one the
// session had, and the replay is byte for byte what it would have sent.
const (
	// extRecent: the UIDs recent for this view (IMAP4rev1 \Recent), as
	// ranges; a new view cannot recompute them, because the claim that
	// made them recent is spent (RFC 3501 2.3.2).
	extRecent uint32 = 1
	// extKeywords: how many keywords the view knew; Refresh sends FLAGS
	// when the mailbox's set grew past it (RFC 9051 7.3.5).
	extKeywords uint32 = 2
	// extTold: (UID, MODSEQ) of flag changes this session reported
	// itself and must not report again (see selected.told).
	extTold uint32 = 3
	// extSaved: the SEARCHRES result "$" (RFC 5182), as ranges.
	extSaved uint32 = 4
)

// errNotExportable says why an idling session stays active.
type errNotExportable string

func (e errNotExportable) Error() string { return "not exportable: " + string(e) }

// exportState exports an idling, selected session (docs/design.md "The state
// blob"). The reason of an errNotExportable is a metric label.
func (c *conn) exportState(tag string) (*hibernate.State, error) {
	if c.state != stateSelected || c.sel == nil {
		// The blob names a mailbox to watch; IDLE without one has
		// nothing to wake for but the client.
		return nil, errNotExportable("not_selected")
	}
	sel := c.sel
	v := sel.view
	st := &hibernate.State{
		User:          c.username,
		Mailbox:       sel.name,
		ReadOnly:      sel.readOnly,
		UIDValidity:   v.UIDValidity,
		HighestModSeq: v.HighestModSeq,
		UIDNext:       v.UIDNext,
		Messages:      uint32(len(v.Messages)),
		IdleTag:       tag,
		TLS:           c.tls,
	}
	st.Enabled = c.enabled.bits()
	for i := range v.Messages {
		st.UIDs = addUID(st.UIDs, v.Messages[i].UID)
	}
	ext := sessionExt{recent: v.Recent, keywords: len(v.Keywords), told: sel.told, saved: sel.saved}
	st.ExtState = ext.appendTo(nil)
	blob, err := st.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", sel.name, err)
	}
	if len(blob) > hibernate.MaxBlob {
		// A view with many holes (ranges) or a large saved search.
		return nil, errNotExportable("blob_size")
	}
	return st, nil
}

// toRanges turns ascending UIDs into ranges.
func toRanges(uids []uint32) []hibernate.UIDRange {
	var rs []hibernate.UIDRange
	for _, u := range uids {
		rs = addUID(rs, u)
	}
	return rs
}

// addUID extends rs, the ranges of ascending UIDs, by u.
func addUID(rs []hibernate.UIDRange, u uint32) []hibernate.UIDRange {
	if n := len(rs); n > 0 && rs[n-1].Last+1 == u {
		rs[n-1].Last = u
		return rs
	}
	return append(rs, hibernate.UIDRange{First: u, Last: u})
}

// fromRanges expands ranges into UIDs.
func fromRanges(rs []hibernate.UIDRange) []uint32 {
	var uids []uint32
	for _, r := range rs {
		for u := r.First; ; u++ {
			uids = append(uids, u)
			if u == r.Last {
				break
			}
		}
	}
	return uids
}

// appendRanges encodes ascending UIDs as a count of ranges, then per range
// the gap from the previous end and the span, like the blob's own S.
func appendRanges(b []byte, uids []uint32) []byte {
	rs := toRanges(uids)
	b = binary.AppendUvarint(b, uint64(len(rs)))
	var prev uint32
	for _, r := range rs {
		b = binary.AppendUvarint(b, uint64(r.First-prev))
		b = binary.AppendUvarint(b, uint64(r.Last-r.First))
		prev = r.Last + 1
	}
	return b
}

var errBadExt = errors.New("corrupt extension state")

// uvarints reads n uvarints from b.
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
	n := d.next()
	uids := []uint32{}
	var prev uint64
	for i := uint64(0); i < n && d.err == nil; i++ {
		first := prev + d.next()
		last := first + d.next()
		if last > 1<<32-1 {
			return nil, errBadExt
		}
		for u := first; u <= last; u++ {
			uids = append(uids, uint32(u))
		}
		prev = last + 1
	}
	return uids, d.err
}

// appendTold encodes selected.told sorted by UID, so one map has one
// encoding.
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

// restoreState rebuilds the session of an exported State on a fresh conn:
// it opens the user and the mailbox (with its watch, then a view) and
// turns the view back into the one the session had at export, so that
// the first Refresh reports exactly what changed since (docs/design.md "Replay
// on wake"): the store's expunge log and MODSEQ index answer it.
func (c *conn) restoreState(st *hibernate.State) error {
	u, err := c.srv.cfg.Store.User(c.ctx, st.User)
	if err != nil {
		return fmt.Errorf("restore user %s: %w", st.User, err)
	}
	c.user, c.username, c.state = u, st.User, stateAuth
	c.admin.setUser(st.User)
	c.logBase = c.logBase.With("user", st.User)
	c.log = c.logBase
	c.enabled = enabledOf(st.Enabled)
	if c.enabled.utf8 {
		c.w.UTF8 = true
		c.dec.SetUTF8(true)
	}
	sel, err := c.openSelected(st.Mailbox, st.ReadOnly)
	if err != nil {
		return fmt.Errorf("restore %s: %w", st.Mailbox, err)
	}
	c.sel, c.state = sel, stateSelected
	c.log = c.logBase.With("mailbox", sel.name)

	v := sel.view
	// The fresh view claimed what no session had seen (IMAP4rev1
	// \Recent): messages that came while this one slept, which its own
	// Refresh would have claimed had it been awake.
	claimed := v.Recent
	ext, err := parseSessionExt(st)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	sel.told, sel.saved = ext.told, ext.saved
	// The view at export: S with the records the store has now. Those
	// changed after M are replaced by the Refresh that follows, and
	// reported; those expunged keep the records the expunge log holds,
	// so that a command that may not announce the expunge (FETCH, STORE,
	// SEARCH) still sees them, until the Refresh removes them. The
	// records newer than M, whose flags the client was not told, are
	// told before such a command (untold): the client's view and the
	// session's agree, as an awake session's do.
	fresh := v.Messages
	msgs := make([]mailstore.Message, 0, st.Messages)
	var gone []mailstore.Message
	j, g := 0, 0
	for _, uid := range fromRanges(st.UIDs) {
		for j < len(fresh) && fresh[j].UID < uid {
			j++
		}
		if j < len(fresh) && fresh[j].UID == uid {
			msgs = append(msgs, fresh[j])
			if fresh[j].ModSeq > st.HighestModSeq {
				sel.untold = append(sel.untold, uint32(len(msgs)))
			}
			continue
		}
		if gone == nil {
			if gone, err = expungedSince(c, sel.mbox, st.HighestModSeq); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
		}
		for g < len(gone) && gone[g].UID < uid {
			g++
		}
		if g < len(gone) && gone[g].UID == uid {
			msgs = append(msgs, gone[g])
			if gone[g].ModSeq > st.HighestModSeq {
				sel.untold = append(sel.untold, uint32(len(msgs)))
			}
			continue
		}
		msgs = append(msgs, mailstore.Message{UID: uid})
	}
	v.Messages, v.Shared = msgs, false
	v.UIDValidity = st.UIDValidity
	v.UIDNext = st.UIDNext
	v.HighestModSeq = st.HighestModSeq
	if ext.keywords < len(v.Keywords) {
		// Only the count matters until the Refresh replaces the list:
		// the set only grows, and every growth bumps HIGHESTMODSEQ.
		v.Keywords = v.Keywords[:ext.keywords]
	}
	v.Recent = mergeUIDs(ext.recent, claimed)
	// The first step of the resumed IDLE is a Refresh.
	sel.signal()
	return nil
}

// expungedSince returns the records of messages expunged after modseq,
// as the store's expunge log keeps them, ascending by UID; never nil, so
// that the caller asks once.
func expungedSince(c *conn, mb mailstore.Mailbox, modseq uint64) ([]mailstore.Message, error) {
	er, ok := mb.(mailstore.ExpungedRecords)
	if !ok {
		return []mailstore.Message{}, nil
	}
	gone, err := er.ExpungedMessages(c.ctx, modseq)
	if gone == nil && err == nil {
		gone = []mailstore.Message{}
	}
	return gone, err
}

// mergeUIDs merges two ascending UID lists.
func mergeUIDs(a, b []uint32) []uint32 {
	out := make([]uint32, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// bits returns the extensions as the state blob records them.
func (e enabled) bits() hibernate.Extension {
	var x hibernate.Extension
	if e.condstore {
		x |= hibernate.ExtCondStore
	}
	if e.qresync {
		x |= hibernate.ExtQResync
	}
	if e.utf8 {
		x |= hibernate.ExtUTF8Accept
	}
	if e.rev2 {
		x |= hibernate.ExtIMAP4rev2
	}
	return x
}

// enabledOf is the inverse of enabled.bits.
func enabledOf(x hibernate.Extension) enabled {
	return enabled{
		condstore: x&hibernate.ExtCondStore != 0,
		qresync:   x&hibernate.ExtQResync != 0,
		utf8:      x&hibernate.ExtUTF8Accept != 0,
		rev2:      x&hibernate.ExtIMAP4rev2 != 0,
	}
}

// sessionExt is the session state kept in hibernate.State.ExtState: the
// parts of the view and the selection that a replay needs beyond S, M
// and N. Export, restore and the in-place update of a sleeper
// (hibernate_update.go) all go through it.
type sessionExt struct {
	recent   []uint32          // extRecent
	keywords int               // extKeywords
	told     map[uint32]uint64 // extTold
	saved    []uint32          // extSaved; nil when no search saved one
}

// appendTo appends the encoded extension states to dst, by ascending kind.
func (e *sessionExt) appendTo(dst []hibernate.ExtState) []hibernate.ExtState {
	if len(e.recent) > 0 {
		dst = append(dst, hibernate.ExtState{Kind: extRecent, Data: appendRanges(nil, e.recent)})
	}
	if e.keywords > 0 {
		dst = append(dst, hibernate.ExtState{Kind: extKeywords, Data: binary.AppendUvarint(nil, uint64(e.keywords))})
	}
	if len(e.told) > 0 {
		dst = append(dst, hibernate.ExtState{Kind: extTold, Data: appendTold(nil, e.told)})
	}
	if e.saved != nil {
		dst = append(dst, hibernate.ExtState{Kind: extSaved, Data: appendRanges(nil, e.saved)})
	}
	return dst
}

// parseSessionExt decodes the extension states of st.
func parseSessionExt(st *hibernate.State) (sessionExt, error) {
	var e sessionExt
	var err error
	for _, x := range st.ExtState {
		switch x.Kind {
		case extRecent:
			e.recent, err = parseRanges(x.Data)
		case extKeywords:
			d := uvarints{b: x.Data}
			e.keywords, err = int(d.next()), d.err
		case extTold:
			e.told, err = parseTold(x.Data)
		case extSaved:
			e.saved, err = parseRanges(x.Data)
		}
		if err != nil {
			return sessionExt{}, fmt.Errorf("state of %s: extension %d: %w", st.Mailbox, x.Kind, err)
		}
	}
	return e, nil
}
