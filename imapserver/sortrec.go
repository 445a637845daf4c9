package imapserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/mailstore"
)

// A sort record is what SORT and THREAD need of one message, derived once
// from its envelope header and kept in the store's SortCache, so that
// these commands read one small record per message, as Dovecot reads its
// index, instead of parsing every header on every command:
//
//	version byte (sortRecVersion)
//	flags byte: recHasDate, recReply
//	varint: sent date, Unix nanoseconds (when recHasDate)
//	then, each as uvarint length and bytes: base subject, From mailbox,
//	From display, To mailbox, To display, Cc mailbox (all in
//	i;unicode-casemap form), Message-ID
//	uvarint count, then that many IDs: the References (RFC 5256 4 step
//	1.A: else the first ID of In-Reply-To)
//
// A record of another version is derived again.
const sortRecVersion = 1

const (
	recHasDate = 1 << iota
	recReply
)

// Indexes of the string fields of a sort record.
const (
	recSubject = iota
	recFrom
	recDisplayFrom
	recTo
	recDisplayTo
	recCc
	recMessageID
	recStrings
)

// sortRec is a decoded sort record.
type sortRec struct {
	date    int64 // sent date, Unix nanoseconds; 0 with !hasDate
	hasDate bool
	reply   bool // the subject marked a reply or forward (RFC 5256 2.1)
	str     [recStrings]string
	refs    []string
}

// recFields says which string fields a caller needs decoded: bit i for
// field i, recRefs for the references. Fields not asked for stay "".
type recFields uint16

const recRefs recFields = 1 << recStrings

// sortRecOf derives a message's sort record from its envelope header.
func sortRecOf(msg *imapmsg.Message) sortRec {
	var r sortRec
	if d := msg.Date(); !d.IsZero() {
		r.date, r.hasDate = d.UnixNano(), true
	}
	base, reply := imapmsg.BaseSubject(msg.Subject())
	r.str[recSubject], r.reply = imapmsg.Casemap(base), reply
	from, _ := msg.FirstAddress("From")
	r.str[recFrom], r.str[recDisplayFrom] = imapmsg.Casemap(from.Mailbox), imapmsg.Casemap(from.Display)
	to, _ := msg.FirstAddress("To")
	r.str[recTo], r.str[recDisplayTo] = imapmsg.Casemap(to.Mailbox), imapmsg.Casemap(to.Display)
	cc, _ := msg.FirstAddress("Cc")
	r.str[recCc] = imapmsg.Casemap(cc.Mailbox)
	r.str[recMessageID] = msg.MessageID()
	if r.refs = msg.References(); len(r.refs) == 0 {
		if irt := msg.InReplyTo(); irt != "" {
			r.refs = []string{irt}
		}
	}
	return r
}

// encode appends r's record to b.
func (r *sortRec) encode(b []byte) []byte {
	var flags byte
	if r.hasDate {
		flags |= recHasDate
	}
	if r.reply {
		flags |= recReply
	}
	b = append(b, sortRecVersion, flags)
	if r.hasDate {
		b = binary.AppendVarint(b, r.date)
	}
	for _, s := range r.str {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(r.refs)))
	for _, s := range r.refs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// recView is a record split into its parts without copying: the fields
// are slices of the record, refs its encoded references.
type recView struct {
	sortRec // the date and flags; str and refs unset
	fields  [recStrings][]byte
	refs    []byte
}

// scanSortRec splits a record; ok is false for a record of another
// version or a damaged one.
func scanSortRec(rec []byte) (v recView, ok bool) {
	ok = v.scan(rec)
	return v, ok
}

// scan splits rec into v in place (sortRecs reuses one recView, and
// returning one by value would copy its slices for every message).
func (v *recView) scan(rec []byte) bool {
	if len(rec) < 2 || rec[0] != sortRecVersion {
		return false
	}
	flags := rec[1]
	rec = rec[2:]
	v.date, v.hasDate, v.reply = 0, flags&recHasDate != 0, flags&recReply != 0
	if v.hasDate {
		d, n := binary.Varint(rec)
		if n <= 0 {
			return false
		}
		v.date, rec = d, rec[n:]
	}
	for i := range v.fields {
		var ok bool
		if v.fields[i], rec, ok = nextRecString(rec); !ok {
			return false
		}
	}
	v.refs = rec
	return true
}

// nextRecString splits a length-prefixed string off rec.
func nextRecString(rec []byte) (s, rest []byte, ok bool) {
	l, n := binary.Uvarint(rec)
	if n <= 0 || l > uint64(len(rec)-n) {
		return nil, nil, false
	}
	return rec[n : n+int(l)], rec[n+int(l):], true
}

// decode copies the fields of v that want names (the date and flags
// always); ok is false when the references are damaged.
func (v *recView) decode(want recFields) (sortRec, bool) {
	r := v.sortRec
	for i, f := range v.fields {
		if want&(1<<i) != 0 {
			r.str[i] = string(f)
		}
	}
	if want&recRefs == 0 {
		return r, true
	}
	refs := v.refs
	count, n := binary.Uvarint(refs)
	if n <= 0 || count > uint64(len(refs)) {
		return sortRec{}, false
	}
	refs = refs[n:]
	r.refs = make([]string, 0, count)
	for range count {
		var s []byte
		var ok bool
		if s, refs, ok = nextRecString(refs); !ok {
			return sortRec{}, false
		}
		r.refs = append(r.refs, string(s))
	}
	return r, true
}

// decodeSortRec decodes the fields of rec that want names; ok is false
// for a record of another version or a damaged one.
func decodeSortRec(rec []byte, want recFields) (sortRec, bool) {
	v, ok := scanSortRec(rec)
	if !ok {
		return sortRec{}, false
	}
	return v.decode(want)
}

// sortRecs calls fn with the sort record of each message of seqs
// (ascending), split (v and its slices are valid only during the call):
// from the store's SortCache, else derived from the envelope headers
// (headerSource) and then kept for the next command. A message gone from
// the store gets an empty record.
func (c *conn) sortRecs(seqs []uint32, fn func(i int, v *recView)) error {
	v := c.sel.view
	done := make([]bool, len(seqs))
	cache, _ := c.sel.mbox.(mailstore.SortCache)
	var rv recView // one for every call: fn's pointer makes it escape
	if cache != nil {
		uids := v.UIDsOf(seqs)
		err := cache.SortRecords(c.ctx, uids, func(i int, rec []byte) {
			if rv.scan(rec) {
				fn(i, &rv)
				done[i] = true
			}
		})
		if err != nil {
			return storeError(err)
		}
	}
	var missing []uint32
	var at []int
	for i, ok := range done {
		if !ok {
			missing = append(missing, seqs[i])
			at = append(at, i)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if d, ok := c.sel.mbox.(sortDeriver); ok {
		return c.deriveSortRecs(d, missing, at, &rv, fn)
	}
	headers := newHeaderSource(c, missing)
	fresh := make(map[uint32][]byte)
	keep := func() {
		if len(fresh) == 0 {
			return
		}
		if err := cache.KeepSortRecords(fresh); err != nil {
			// The answer stands; the next command derives them again.
			c.log.Warn("keep sort records", "err", err)
		}
		clear(fresh)
	}
	empty, _ := scanSortRec((&sortRec{}).encode(nil))
	for j := 0; j < len(missing); {
		recs, err := headers.records(j)
		if err != nil {
			return err
		}
		for k, rec := range recs {
			if rec == nil {
				fn(at[j+k], &empty)
				continue
			}
			rv.scan(rec)
			fn(at[j+k], &rv)
			if cache != nil {
				fresh[v.Messages.UID(int(missing[j+k]-1))] = rec
				if len(fresh) >= keepSortRecsChunk {
					keep()
				}
			}
		}
		j += len(recs)
	}
	keep()
	return nil
}

// sortDeriver is a store that makes the sort records it lacks itself
// (mailstore/maildir's DeriveSortRecords): from each message's envelope
// header as it reads it, parsed once, on several cores, keeping
// envelopes and records in one index commit. derive is called from
// several goroutines at once.
type sortDeriver interface {
	DeriveSortRecords(ctx context.Context, uids []uint32, derive func(header *imapmsg.Message) []byte) (recs, blocks [][]byte, err error)
}

// deriveSortRecs is the rest of sortRecs for a sortDeriver: the records
// of the messages of seqs (ascending; at[k] is the position of seqs[k]
// in sortRecs' order) a chunk at a time, sized as envelopeReader sizes
// its chunks (nextEnvelopeChunk: from firstEnvelopeChunk, at most
// sortEnvelopeChunk, aiming at envelopeChunkBytes of envelope blocks),
// so that messages with huge headers are not held thousands at once.
func (c *conn) deriveSortRecs(d sortDeriver, seqs []uint32, at []int, rv *recView, fn func(i int, v *recView)) error {
	empty, _ := scanSortRec((&sortRec{}).encode(nil))
	derive := func(msg *imapmsg.Message) []byte {
		r := sortRecOf(msg)
		return r.encode(nil)
	}
	n := firstEnvelopeChunk
	for from := 0; from < len(seqs); {
		if err := c.interrupted(); err != nil {
			return err
		}
		chunk := seqs[from:min(from+n, len(seqs))]
		recs, blocks, err := d.DeriveSortRecords(c.ctx, c.sel.view.UIDsOf(chunk), derive)
		if err != nil {
			return storeError(fmt.Errorf("sort keys: %w", err))
		}
		total := 0
		for _, b := range blocks {
			total += len(b)
		}
		blocks = nil // only their size was wanted
		for k, rec := range recs {
			if rec == nil || !rv.scan(rec) {
				fn(at[from+k], &empty)
				continue
			}
			fn(at[from+k], rv)
		}
		from += len(chunk)
		n = nextEnvelopeChunk(len(chunk), total, sortEnvelopeChunk)
	}
	return nil
}

// keepSortRecsChunk is how many new records one write transaction keeps:
// each commit is an fsync, and the records waiting take memory (about
// 150 bytes each, a few MiB at most).
const keepSortRecsChunk = 16384

// headerSource gives SORT and THREAD the parsed envelope header of
// messages whose sort record is not kept yet, in the order they walk
// them: from the store's envelope cache (envelopeReader), or from the
// message files of a store that keeps none.
type headerSource struct {
	c    *conn
	seqs []uint32
	env  *envelopeReader
}

// sortEnvelopeChunk is how many envelopes headerSource asks for at once,
// within envelopeChunkBytes like every envelopeReader: more than FETCH's
// envelopeChunk, since SORT and THREAD read whole mailboxes, and the
// store keeps the envelopes it had to read from files one index commit
// per chunk (100,000 messages: about 35 commits rather than 400).
const sortEnvelopeChunk = 4096

func newHeaderSource(c *conn, seqs []uint32) *headerSource {
	env := newEnvelopeReader(c, seqs)
	if env != nil {
		env.limit = sortEnvelopeChunk
	}
	return &headerSource{c: c, seqs: seqs, env: env}
}

// header returns the header of the i-th message, nil for one gone from
// the store.
func (h *headerSource) header(i int) (*imapmsg.Message, error) {
	var msg *imapmsg.Message
	var err error
	if h.env != nil {
		msg, err = h.env.message(i)
	} else {
		msg, err = h.fromFile(h.seqs[i])
	}
	if errors.Is(err, mailstore.ErrNoMessage) {
		return nil, nil
	}
	if err != nil {
		return nil, storeError(fmt.Errorf("sort keys: %w", err))
	}
	return msg, nil
}

// sortRecBatch is how many sort records headerSource.records derives at
// once from envelope blocks (and at most envelopeChunkBytes of them).
const sortRecBatch = 1024

// records returns the encoded sort records of the messages from the
// i-th on (at least one; nil for a message gone). From envelope blocks
// they are derived a batch at a time by up to GOMAXPROCS goroutines (at
// most 4): parsing the headers is most of a first SORT or THREAD over a
// large mailbox.
func (h *headerSource) records(i int) ([][]byte, error) {
	if h.env == nil {
		if err := h.c.interrupted(); err != nil {
			return nil, err
		}
		msg, err := h.header(i)
		if err != nil || msg == nil {
			return [][]byte{nil}, err
		}
		r := sortRecOf(msg)
		return [][]byte{r.encode(nil)}, nil
	}
	var blocks [][]byte
	total := 0
	for j := i; j < len(h.seqs) && len(blocks) < sortRecBatch && total < envelopeChunkBytes; j++ {
		if err := h.c.interrupted(); err != nil {
			return nil, err
		}
		b, err := h.env.block(j)
		if errors.Is(err, mailstore.ErrNoMessage) {
			b, err = nil, nil
		}
		if err != nil {
			return nil, storeError(fmt.Errorf("sort keys: %w", err))
		}
		blocks = append(blocks, b)
		total += len(b)
	}
	recs := make([][]byte, len(blocks))
	errs := make([]error, len(blocks))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), 4, len(blocks)) {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(blocks) {
					return
				}
				if blocks[k] == nil {
					continue
				}
				msg, err := parseEnvelope(blocks[k], h.seqs[i+k])
				if err != nil {
					errs[k] = err
					continue
				}
				r := sortRecOf(msg)
				recs[k] = r.encode(nil)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, storeError(fmt.Errorf("sort keys: %w", err))
		}
	}
	return recs, nil
}

// fromFile parses the top-level header of the message at seq from its
// file. ParseHeader reads the header at once, so the file is closed
// before the message's header is used.
func (h *headerSource) fromFile(seq uint32) (*imapmsg.Message, error) {
	uid := h.c.sel.view.Messages.UID(int(seq - 1))
	content, err := h.c.sel.mbox.Open(h.c.ctx, uid)
	if err != nil {
		return nil, err
	}
	defer content.Close()
	msg, err := imapmsg.ParseHeader(interruptibleReaderAt{content, h.c.interrupted}, content.Size())
	if err != nil {
		return nil, fmt.Errorf("parse uid %d: %w", uid, err)
	}
	return msg, nil
}
