package maildir

import (
	"context"
	"fmt"
	"sort"

	"github.com/dormouse/dormouse/mailstore"
)

// ChangesSince reports messages with MODSEQ > modseq and UIDs expunged
// after it, from the MODSEQ and expunge-log buckets: no full scan.
func (h *mailboxHandle) ChangesSince(ctx context.Context, modseq uint64) (mailstore.Changes, error) {
	var ch mailstore.Changes
	err := h.view(func(m *mboxTx) error {
		if modseq < m.meta.expungeFloor {
			return mailstore.ErrExpungeLogShort
		}
		ch.UIDValidity, ch.UIDNext = m.meta.uidValidity, m.meta.uidNext
		ch.HighestModSeq = m.meta.highestModSeq
		ch.Keywords = append([]string(nil), m.meta.keywords...)
		recs, err := m.changedSince(modseq)
		if err != nil {
			return err
		}
		ch.Changed = make([]mailstore.Message, len(recs))
		for i := range recs {
			ch.Changed[i] = recs[i].message(recs[i].flags.list())
		}
		ch.Expunged = m.expungedSince(modseq)
		return nil
	})
	if err != nil {
		return mailstore.Changes{}, fmt.Errorf("changes since %d in %s: %w", modseq, h.name, err)
	}
	return ch, nil
}

// changedSince returns the records with MODSEQ > modseq, ascending by UID.
func (m *mboxTx) changedSince(modseq uint64) ([]msgRec, error) {
	if modseq < m.meta.unloggedModSeq {
		return m.changedSinceWalk(modseq) // (modseqlog.go)
	}
	var recs []msgRec
	c := m.ms.Cursor()
	for k, _ := c.Seek(seqKey(modseq+1, 0)); k != nil; k, _ = c.Next() {
		uid := beUint32(k[8:])
		r, ok, err := m.get(uid, false)
		if err != nil {
			return nil, err
		}
		if ok {
			recs = append(recs, r)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].uid < recs[j].uid })
	return recs, nil
}

// expungedSince returns UIDs expunged with MODSEQ > modseq, ascending.
func (m *mboxTx) expungedSince(modseq uint64) []uint32 {
	var uids []uint32
	c := m.xplog.Cursor()
	for k, _ := c.Seek(seqKey(modseq+1, 0)); k != nil; k, _ = c.Next() {
		uids = append(uids, beUint32(k[8:]))
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	return uids
}

var _ mailstore.MessageReader = (*mailboxHandle)(nil)

// Messages returns the records of the messages of uids the index holds
// (mailstore.MessageReader): one read of each record, no scan.
func (h *mailboxHandle) Messages(ctx context.Context, uids []uint32) ([]mailstore.Message, error) {
	var out []mailstore.Message
	err := h.view(func(m *mboxTx) error {
		for _, uid := range uids {
			r, ok, err := m.get(uid, false)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, r.message(r.flags.list()))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("messages of %s: %w", h.name, err)
	}
	return out, nil
}

var _ mailstore.ExpungedRecords = (*mailboxHandle)(nil)

// ExpungedMessages returns the records the expunge log keeps of messages
// expunged after modseq (mailstore.ExpungedRecords); entries written
// before the log kept records are left out.
func (h *mailboxHandle) ExpungedMessages(ctx context.Context, modseq uint64) ([]mailstore.Message, error) {
	var out []mailstore.Message
	err := h.view(func(m *mboxTx) error {
		c := m.xplog.Cursor()
		for k, v := c.Seek(seqKey(modseq+1, 0)); k != nil; k, v = c.Next() {
			if len(v) == 0 {
				continue
			}
			r, err := decodeRec(beUint32(k[8:]), v, false)
			if err != nil {
				return err
			}
			out = append(out, r.message(r.flags.list()))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expunged messages of %s since %d: %w", h.name, modseq, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out, nil
}
