package imapserver

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// A NOTIFY session whose MessageNew names fetch attributes (RFC 5465 5.2:
// after the EXISTS, each new message's FETCH with them) hibernates like
// any other; the attributes go into the state blob with its groups.
// When a sleeper learns of new messages (applyChanges, the one place an
// asleep update is computed), their FETCH is written in place when the
// attributes come from what the sleeper reads anyway: the records the
// change brought (UID, FLAGS, INTERNALDATE, RFC822.SIZE, SAVEDATE, and
// MODSEQ once CONDSTORE is on) and, for ENVELOPE, the store's envelope
// cache. Anything else (a body section, BODYSTRUCTURE, EMAILID, a MODSEQ
// that would turn CONDSTORE on) is a full wake, decided before the view
// takes the change (and claims \Recent), so that the woken session's
// first refresh runs fetchNew, the awake code, on exactly the same
// change. The FETCH is written by the encoder that writes an awake
// FETCH (encoder.fetch), after the update, as refresh writes it.

// notifyNewAsleep is what a sleeper does about NOTIFY MessageNew's FETCH
// of the new messages of a change: write it after the update (plan set),
// nothing (plan nil: no new message, or no attributes asked), tell the
// change only once it is committed (later), or wake (wake).
type notifyNewAsleep struct {
	plan  *fetchPlan
	recs  []mailstore.Message // the new messages' records, in order
	msgs  []*imapmsg.Message  // their envelope headers, when the plan has ENVELOPE
	later bool                // the source gives no whole records (an early announcement)
	wake  bool                // only the awake session can write it exactly
}

// planNotifyNew decides notifyNewAsleep for st, its view v (before it
// applies ch) and the change ch read through src.
func planNotifyNew(ctx context.Context, st *hibernate.State, v *imapview.View, ch mailstore.Changes, src changeReader) notifyNewAsleep {
	// Most sleepers have no NOTIFY: they cost a look at the blob's
	// extension kinds.
	spec, err := notifyOf(st)
	if err != nil {
		return notifyNewAsleep{wake: true}
	}
	if spec == nil {
		return notifyNewAsleep{}
	}
	g := spec.selected()
	if g == nil || len(g.fetch) == 0 {
		return notifyNewAsleep{}
	}
	added := v.NewIn(ch)
	if len(added) == 0 {
		return notifyNewAsleep{}
	}
	if !src.wholeRecords() {
		return notifyNewAsleep{later: true}
	}
	p, ok := recordFetchPlan(g.fetch, enabledOf(st.Enabled))
	if !ok {
		return notifyNewAsleep{wake: true}
	}
	a := notifyNewAsleep{plan: &p, recs: added}
	if p.header {
		uids := make([]uint32, len(added))
		for i, m := range added {
			uids[i] = m.UID
		}
		blocks, err := src.envelopes(ctx, uids)
		if err != nil || len(blocks) != len(uids) {
			return notifyNewAsleep{wake: true}
		}
		a.msgs = make([]*imapmsg.Message, len(blocks))
		for i, b := range blocks {
			if b == nil {
				// Gone already: the awake FETCH answers from what the
				// store kept of it (fetchLost), which is the
				// session's to do.
				return notifyNewAsleep{wake: true}
			}
			// The awake FETCH reports an envelope that does not
			// parse as an error of its own: the session's to do.
			if a.msgs[i], err = parseEnvelope(b, uids[i]); err != nil {
				return notifyNewAsleep{wake: true}
			}
		}
	}
	return a
}

// recordFetchPlan returns the FETCH plan of MessageNew's items as
// fetchNew runs it (a FETCH by sequence number) when a sleeper can
// write it from records and envelopes: no body section or structure
// (they need the file), no EMAILID, THREADID or PREVIEW (readers of
// their own), no MODSEQ while CONDSTORE is off (asking for it turns
// CONDSTORE on, with an OK [HIGHESTMODSEQ] line). The items set no
// flag (newNotifySpec).
func recordFetchPlan(items []imapwire.FetchItem, en enabled) (fetchPlan, bool) {
	p, err := planFetch(items, false)
	if err != nil || p.parse || p.fields || p.content || p.setSeen || p.wantEmailID || p.wantThreadID || p.wantPreview {
		return p, false
	}
	if p.hasModseq {
		if !en.condstore {
			return p, false
		}
		p.modseq = true
	}
	return p, true
}

// write writes the new messages' FETCH after up, the update v (after
// the change) was told, as fetchNew does after refresh's update.
func (a notifyNewAsleep) write(e encoder, v *imapview.View, up imapview.Update) {
	if a.plan == nil {
		return
	}
	first := uint32(up.Exists - up.Added + 1)
	for i := range a.recs {
		var msg *imapmsg.Message
		if a.msgs != nil {
			msg = a.msgs[i]
		}
		e.fetch(v, first+uint32(i), &a.recs[i], a.plan, false, msg, false, nil, nil)
	}
}

// envelopes reads the envelope header blocks of uids from the store's
// envelope cache (mailstore.EnvelopeCache), nil for a message gone.
func (s *changeSource) envelopes(ctx context.Context, uids []uint32) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	cache, ok := mb.(mailstore.EnvelopeCache)
	if !ok {
		return nil, errors.New("the store keeps no envelopes")
	}
	return cache.EnvelopeHeaders(ctx, uids)
}

// wholeRecords: the store's changes are whole records.
func (s *changeSource) wholeRecords() bool { return true }

// Limits of a blob's MessageNew fetch attributes, far above any real
// client's (interimap asks none, Thunderbird does not NOTIFY): a corrupt
// blob cannot make a sleeper allocate much.
const (
	maxBlobFetchItems  = 100
	maxBlobFetchString = 1000
)

// Flags of an encoded fetch item.
const (
	fetchItemPeek = 1 << iota
	fetchItemLazy
	fetchItemSection
	fetchItemPartial
)

// appendFetchItems encodes MessageNew's fetch attributes for the state
// blob: their count, then per item its name, a flag byte (PEEK, LAZY,
// section, partial), the section (part numbers, specifier, header field
// names) and the partial range (offset, count); numbers are uvarints,
// strings a uvarint length and their bytes.
func appendFetchItems(b []byte, items []imapwire.FetchItem) []byte {
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, it := range items {
		str(it.Name)
		var f byte
		if it.Peek {
			f |= fetchItemPeek
		}
		if it.Lazy {
			f |= fetchItemLazy
		}
		if it.Section != nil {
			f |= fetchItemSection
		}
		if it.Partial != nil {
			f |= fetchItemPartial
		}
		b = append(b, f)
		if s := it.Section; s != nil {
			b = binary.AppendUvarint(b, uint64(len(s.Part)))
			for _, p := range s.Part {
				b = binary.AppendUvarint(b, uint64(p))
			}
			str(s.Specifier)
			b = binary.AppendUvarint(b, uint64(len(s.Fields)))
			for _, f := range s.Fields {
				str(f)
			}
		}
		if p := it.Partial; p != nil {
			b = binary.AppendUvarint(b, uint64(p.Offset))
			b = binary.AppendUvarint(b, uint64(p.Count))
		}
	}
	return b
}

// parseFetchItems decodes appendFetchItems' bytes, which must be all of
// data; the items must be ones FETCH knows.
func parseFetchItems(data []byte) ([]imapwire.FetchItem, error) {
	bad := false
	num := func(limit uint64) uint64 {
		v, n := binary.Uvarint(data)
		if n <= 0 || v > limit {
			bad = true
			return 0
		}
		data = data[n:]
		return v
	}
	str := func() string {
		l := num(maxBlobFetchString)
		if bad || l > uint64(len(data)) {
			bad = true
			return ""
		}
		s := string(data[:l])
		data = data[l:]
		return s
	}
	n := num(maxBlobFetchItems)
	if bad || n == 0 {
		return nil, errNotifyState
	}
	items := make([]imapwire.FetchItem, n)
	for i := range items {
		it := &items[i]
		it.Name = str()
		if bad || len(data) == 0 {
			return nil, errNotifyState
		}
		f := data[0]
		data = data[1:]
		if f >= fetchItemPartial<<1 {
			return nil, errNotifyState
		}
		it.Peek, it.Lazy = f&fetchItemPeek != 0, f&fetchItemLazy != 0
		if f&fetchItemSection != 0 {
			s := &imapwire.Section{}
			for range num(maxBlobFetchItems) {
				s.Part = append(s.Part, int(num(1<<31-1)))
			}
			s.Specifier = str()
			for range num(maxBlobFetchString) {
				s.Fields = append(s.Fields, str())
			}
			it.Section = s
		}
		if f&fetchItemPartial != 0 {
			it.Partial = &imapwire.Partial{Offset: uint32(num(1<<32 - 1)), Count: uint32(num(1<<32 - 1))}
		}
		if bad {
			return nil, errNotifyState
		}
	}
	if len(data) != 0 {
		return nil, errNotifyState
	}
	if _, err := planFetch(items, false); err != nil {
		return nil, errNotifyState
	}
	return items, nil
}
