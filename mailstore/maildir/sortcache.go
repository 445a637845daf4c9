package maildir

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

var _ mailstore.SortCache = (*mailboxHandle)(nil)

// sortRecordsChunk is how many records one read transaction returns, so
// that a SORT over a large mailbox does not hold one transaction (and the
// pages it pins) for its whole length, and notices cancellation.
const sortRecordsChunk = 4096

// seekGap is how far ahead a wanted UID may be for the cursor to step to
// it rather than seek: stepping is cheaper for the dense sets SORT asks.
const seekGap = 32

// SortRecords calls fn with the kept record of each message of uids that
// has one (mailstore.SortCache), walking the records with a cursor in UID
// order.
func (h *mailboxHandle) SortRecords(ctx context.Context, uids []uint32, fn func(i int, rec []byte)) error {
	if err := h.records(ctx, bktSortRecs, uids, fn); err != nil {
		return fmt.Errorf("sort records of %s: %w", h.name, err)
	}
	return nil
}

// KeepSortRecords stores records by UID in one transaction, skipping
// messages expunged since, so that no record outlives its message's
// index entry by more than its envelope does (trimExpungeLog drops both).
func (h *mailboxHandle) KeepSortRecords(recs map[uint32][]byte) error {
	if err := h.keepRecords(bktSortRecs, recs); err != nil {
		return fmt.Errorf("keep sort records of %s: %w", h.name, err)
	}
	return nil
}

// records calls fn with the value kept in the mailbox's sub-bucket bkt
// (a bucket by UID, made on first use) of each message of uids that has
// one, walking them with a cursor in UID order; uids must be ascending.
func (h *mailboxHandle) records(ctx context.Context, bkt []byte, uids []uint32, fn func(i int, rec []byte)) error {
	for from := 0; from < len(uids); from += sortRecordsChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		to := min(from+sortRecordsChunk, len(uids))
		err := h.view(func(m *mboxTx) error {
			if b := m.b.Bucket(bkt); b != nil {
				eachKept(b, uids[from:to], func(i int, v []byte) { fn(from+i, v) })
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// eachKept calls fn(i, v) for each uids[i] that has a value in b (a
// bucket by UID), in order: walking b with a cursor when uids ascend,
// stepping to near UIDs and seeking to far ones (one Get per UID costs a
// descent from the root each), else with a Get per UID. v is valid only
// during the transaction.
func eachKept(b *bbolt.Bucket, uids []uint32, fn func(i int, v []byte)) {
	if len(uids) == 0 {
		return
	}
	if !slices.IsSorted(uids) {
		for i, uid := range uids {
			if v := b.Get(u32(uid)); v != nil {
				fn(i, v)
			}
		}
		return
	}
	c := b.Cursor()
	k, v := c.Seek(u32(uids[0]))
	for i := 0; i < len(uids) && k != nil; i++ {
		want := uids[i]
		for k != nil && binary.BigEndian.Uint32(k) < want {
			if want-binary.BigEndian.Uint32(k) > seekGap {
				k, v = c.Seek(u32(want))
			} else {
				k, v = c.Next()
			}
		}
		if k != nil && binary.BigEndian.Uint32(k) == want {
			fn(i, v)
		}
	}
}

// keepRecords stores values by UID in the mailbox's sub-bucket bkt in one
// transaction, in UID order (bbolt inserts in key order by appending; in a
// map's order, by moving the rest of a page for each), skipping messages
// expunged since.
func (h *mailboxHandle) keepRecords(bkt []byte, recs map[uint32][]byte) error {
	return h.update(func(m *mboxTx) error {
		b, err := m.b.CreateBucketIfNotExists(bkt)
		if err != nil {
			return err
		}
		return m.putLive(b, recs, nil)
	})
}

// putLive puts vals by UID into b (a bucket by UID of this mailbox), as
// value(v) when value is set, skipping messages expunged since (no record
// in m.msgs). They go in UID order: bbolt inserts in key order by
// appending, in a map's order by moving the rest of a page for each. When
// they all come after b's last key (a mailbox's first SORT keeps 100,000
// such), b's pages are filled to 90 % rather than split half full.
func (m *mboxTx) putLive(b *bbolt.Bucket, vals map[uint32][]byte, value func([]byte) []byte) error {
	if len(vals) == 0 {
		return nil
	}
	uids := slices.Sorted(maps.Keys(vals))
	live := make([]bool, len(uids))
	eachKept(m.msgs, uids, func(i int, _ []byte) { live[i] = true })
	if last, _ := b.Cursor().Last(); last == nil || binary.BigEndian.Uint32(last) < uids[0] {
		b.FillPercent = 0.9
	}
	for i, uid := range uids {
		if !live[i] {
			continue
		}
		v := vals[uid]
		if value != nil {
			v = value(v)
		}
		if err := b.Put(u32(uid), v); err != nil {
			return err
		}
	}
	return nil
}
