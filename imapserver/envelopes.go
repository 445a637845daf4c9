package imapserver

import (
	"bytes"
	"fmt"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/mailstore"
)

// Envelope headers are asked of the store a chunk at a time: one index
// transaction each, and a bounded amount in memory. A chunk holds at most
// envelopeChunk headers and aims at envelopeChunkBytes: it starts at
// firstEnvelopeChunk and follows the size of the headers seen, so that
// messages with megabyte headers are not held 256 at a time (the hostile-client review:
// 256 envelope headers of 1.1 MB each were in memory at once).
const (
	envelopeChunk      = 256
	firstEnvelopeChunk = 8
	envelopeChunkBytes = 4 << 20
)

// nextEnvelopeChunk returns how many headers to ask for after a chunk of
// n headers that held total bytes: as many as fit envelopeChunkBytes at
// that size, at most twice n, between 1 and limit.
func nextEnvelopeChunk(n, total, limit int) int {
	fit := limit
	if total > 0 {
		fit = envelopeChunkBytes / max(total/n, 1)
	}
	return max(1, min(fit, 2*n, limit))
}

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
	chunk  int      // headers to ask for next
	limit  int      // at most this many a chunk (envelopeChunk unless set)
}

// newEnvelopeReader returns a reader over seqs (nil: every message of the
// view, in order), or nil when the store keeps no envelopes.
func newEnvelopeReader(c *conn, seqs []uint32) *envelopeReader {
	cache, ok := c.sel.mbox.(mailstore.EnvelopeCache)
	if !ok {
		return nil
	}
	return &envelopeReader{c: c, cache: cache, seqs: seqs, chunk: firstEnvelopeChunk, limit: envelopeChunk}
}

func (r *envelopeReader) count() int {
	if r.seqs == nil {
		return r.c.sel.view.Messages.Len()
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
	block, err := r.block(i)
	if err != nil {
		return nil, err
	}
	return parseEnvelope(block, r.seq(i))
}

// parseEnvelope parses the envelope header block of the message at seq.
func parseEnvelope(block []byte, seq uint32) (*imapmsg.Message, error) {
	msg, err := imapmsg.ParseHeader(bytes.NewReader(block), int64(len(block)))
	if err != nil {
		return nil, fmt.Errorf("envelope of seq %d: %w", seq, err)
	}
	return msg, nil
}

// block returns the envelope header block of the i-th message of the
// order, unparsed (valid until the reader moves to another chunk).
// mailstore.ErrNoMessage says the message is gone.
func (r *envelopeReader) block(i int) ([]byte, error) {
	if i < r.from || i >= r.from+len(r.blocks) {
		n := min(r.chunk, r.count()-i)
		uids := make([]uint32, n)
		for j := range uids {
			uids[j] = r.c.sel.view.Messages.UID(int(r.seq(i+j) - 1))
		}
		r.blocks = nil // let the previous chunk go before the next comes
		blocks, err := r.cache.EnvelopeHeaders(r.c.ctx, uids)
		if err != nil {
			return nil, err
		}
		total := 0
		for _, b := range blocks {
			total += len(b)
		}
		r.from, r.blocks = i, blocks
		r.chunk = nextEnvelopeChunk(n, total, r.limit)
	}
	block := r.blocks[i-r.from]
	if block == nil {
		return nil, mailstore.ErrNoMessage
	}
	return block, nil
}
