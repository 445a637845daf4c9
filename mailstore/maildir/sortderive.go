package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/dormouse/dormouse/imapmsg"
)

// DeriveSortRecords makes the sort records (mailstore.SortCache) of the
// messages of uids, whose kept records the caller found missing or
// unusable, and returns them in order, nil for a message gone, with the
// envelope blocks they were made from (so that the caller can size its
// next chunk by what this one held). derive
// (called from several goroutines at once) is given each envelope header
// parsed once: from the kept envelope block, or, read on envelopeReaders
// goroutines, from the message's file. The records and the new envelope
// blocks are kept in one transaction. A mailbox's first SORT or THREAD
// so parses each header once instead of reading envelopes and parsing
// them again, and makes one index commit for both.
func (h *mailboxHandle) DeriveSortRecords(ctx context.Context, uids []uint32, derive func(*imapmsg.Message) []byte) (recs, blocks [][]byte, err error) {
	recs = make([][]byte, len(uids))
	blocks = make([][]byte, len(uids))
	var noBlock []int
	err = h.view(func(m *mboxTx) error {
		noBlock = m.keptEnvelopes(uids, blocks)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sort records of %s: %w", h.name, err)
	}
	// Records from the files' headers, as they are read.
	vanished, err := h.readEnvelopesWith(ctx, uids, noBlock, blocks, func(i int, msg *imapmsg.Message) {
		recs[i] = derive(msg)
	})
	if err != nil {
		return nil, nil, err
	}
	for _, i := range vanished {
		// Renamed or expunged meanwhile: EnvelopeHeaders looks again.
		b, err := h.EnvelopeHeaders(ctx, uids[i:i+1])
		if err != nil {
			return nil, nil, err
		}
		blocks[i] = b[0]
	}
	// Records from kept blocks (and the few read again above).
	var fromBlock []int
	for i := range uids {
		if recs[i] == nil && blocks[i] != nil {
			fromBlock = append(fromBlock, i)
		}
	}
	errs := make([]error, len(fromBlock))
	err = inParallel(ctx, len(fromBlock), func(k int) {
		i := fromBlock[k]
		msg, err := imapmsg.ParseHeader(bytes.NewReader(blocks[i]), int64(len(blocks[i])))
		if err != nil {
			errs[k] = fmt.Errorf("envelope of message %d in %s: %w", uids[i], h.name, err)
			return
		}
		recs[i] = derive(msg)
	})
	if err != nil {
		return nil, nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	freshRecs := make(map[uint32][]byte, len(uids))
	freshBlocks := make(map[uint32][]byte, len(noBlock))
	for i := range uids {
		if recs[i] != nil {
			freshRecs[uids[i]] = recs[i]
		}
	}
	for _, i := range noBlock {
		if blocks[i] != nil {
			freshBlocks[uids[i]] = blocks[i]
		}
	}
	err = h.update(func(m *mboxTx) error {
		if err := m.putEnvelopes(freshBlocks); err != nil {
			return err
		}
		b, err := m.b.CreateBucketIfNotExists(bktSortRecs)
		if err != nil {
			return err
		}
		return m.putLive(b, freshRecs, nil)
	})
	if err != nil {
		// The answer stands; the next command derives them again.
		h.u.s.log.Warn("keep sort records", "user", h.u.name, "mailbox", h.name, "err", err)
	}
	return recs, blocks, nil
}
