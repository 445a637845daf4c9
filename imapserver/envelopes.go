package imapserver

import (
	"bytes"
	"fmt"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/mailstore"
)

// envelopeChunk is how many envelope headers are asked of the store at
// once: one index transaction each, and a bounded amount in memory.
const envelopeChunk = 256

// envelopeReader gives FETCH ENVELOPE and the header keys of SEARCH the
// messages' envelope headers from the store's EnvelopeCache, a chunk at
// a time in the order the command walks the messages, instead of opening
// each message file.
type envelopeReader struct {
	c     *conn
	cache mailstore.EnvelopeCache
	seqs  []uint32 // sequence numbers in the order walked; nil: the whole view

	from   int      // position in the order of blocks[0]
	blocks [][]byte // nil entries: messages gone from the store
}

// newEnvelopeReader returns a reader over seqs (nil: every message of the
// view, in order), or nil when the store keeps no envelopes.
func newEnvelopeReader(c *conn, seqs []uint32) *envelopeReader {
	cache, ok := c.sel.mbox.(mailstore.EnvelopeCache)
	if !ok {
		return nil
	}
	return &envelopeReader{c: c, cache: cache, seqs: seqs}
}

func (r *envelopeReader) count() int {
	if r.seqs == nil {
		return len(r.c.sel.view.Messages)
	}
	return len(r.seqs)
}

func (r *envelopeReader) seq(i int) uint32 {
	if r.seqs == nil {
		return uint32(i + 1)
	}
	return r.seqs[i]
}

// message returns the envelope header of the i-th message of the order,
// parsed: enough for ENVELOPE, Date and HeaderContains on envelope
// fields. mailstore.ErrNoMessage says the message is gone.
func (r *envelopeReader) message(i int) (*imapmsg.Message, error) {
	if i < r.from || i >= r.from+len(r.blocks) {
		n := min(envelopeChunk, r.count()-i)
		uids := make([]uint32, n)
		for j := range uids {
			uids[j] = r.c.sel.view.Messages[r.seq(i+j)-1].UID
		}
		blocks, err := r.cache.EnvelopeHeaders(r.c.ctx, uids)
		if err != nil {
			return nil, err
		}
		r.from, r.blocks = i, blocks
	}
	block := r.blocks[i-r.from]
	if block == nil {
		return nil, mailstore.ErrNoMessage
	}
	msg, err := imapmsg.ParseHeader(bytes.NewReader(block), int64(len(block)))
	if err != nil {
		return nil, fmt.Errorf("envelope of seq %d: %w", r.seq(i), err)
	}
	return msg, nil
}
