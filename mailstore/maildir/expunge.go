package maildir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/dormouse/dormouse/mailstore"
)

// Expunge removes messages flagged \Deleted (only those in uids when uids
// is not nil) and returns their UIDs ascending.
func (h *mailboxHandle) Expunge(ctx context.Context, uids []uint32) ([]uint32, error) {
	var out []uint32
	var evs []mailstore.Event
	// Files removed by a transaction that then failed stay removed (the
	// rescan expunges them), as when the change commits alone.
	err := h.updateGrouped(func(m *mboxTx) error {
		out = nil
		if m.meta.deleted == 0 {
			return nil
		}
		var recs []msgRec
		if uids == nil {
			c := m.msgs.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(v) > 1 {
					// The file name only of the messages that go: an
					// EXPUNGE of one in a mailbox of 500 decoded 500.
					r, err := decodeRec(beUint32(k), v, false)
					if err == nil && r.flags.sys&flagDeleted != 0 {
						r, err = decodeRec(beUint32(k), v, true)
						recs = append(recs, r)
					}
					if err != nil {
						return err
					}
				}
			}
		} else {
			for _, uid := range uids {
				r, ok, err := m.get(uid, true)
				if err != nil {
					return err
				}
				if ok && r.flags.sys&flagDeleted != 0 {
					recs = append(recs, r)
				}
			}
		}
		sort.Slice(recs, func(i, j int) bool { return recs[i].uid < recs[j].uid })
		var cs changeSet
		if len(recs) > 0 {
			ms := m.nextModSeq()
			cur := filepath.Join(m.dir, "cur")
			for i := range recs {
				if i > 0 && recs[i].uid == recs[i-1].uid {
					continue
				}
				if err := m.keepExpungedEnvelope(&recs[i]); err != nil {
					return err
				}
				if err := m.remove(&recs[i], ms); err != nil {
					return err
				}
				// Removing inside the transaction keeps the watcher (which
				// waits for the write lock) from seeing a missing file as
				// an outside expunge.
				if err := os.Remove(filepath.Join(cur, recs[i].file)); err != nil && !errors.Is(err, os.ErrNotExist) {
					h.u.s.log.Warn("remove expunged file", "user", h.u.name, "mailbox", h.name, "err", err)
				}
				if err := m.logName(recs[i].file, ""); err != nil {
					return err
				}
				cs.expunged = append(cs.expunged, recs[i].uid)
			}
		}
		out = cs.expunged
		evs = cs.events(h.u.name, m)
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("expunge %s: %w", h.name, err)
	}
	h.u.s.publish(evs)
	return out, nil
}
