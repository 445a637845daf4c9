package maildir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dormouse/dormouse/mailstore"
)

// StoreFlags changes flags; all messages changed by one call share one new
// MODSEQ (RFC 7162 3.1.3 allows it). System flag changes rename the file
// (and keyword changes, in a mailbox taken over from Dovecot).
func (h *mailboxHandle) StoreFlags(ctx context.Context, uids []uint32, op mailstore.StoreOp, flags []string, unchangedSince uint64) (changed []mailstore.Message, failed []uint32, err error) {
	ch := parseFlags(flags)
	var renamed [][2]string
	var cur string // the folder of renamed
	var evs []mailstore.Event
	err = h.updateGrouped(func(m *mboxTx) error {
		changed, failed, renamed = nil, nil, nil
		var cs changeSet
		var ms uint64
		cur = filepath.Join(m.dir, "cur")
		for _, uid := range uids {
			r, ok, err := m.get(uid, true)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if unchangedSince > 0 && r.modSeq > unchangedSince {
				failed = append(failed, uid)
				continue
			}
			nf := r.flags.apply(int(op), ch)
			m.noteKeywords(nf.keywords)
			nf.keywords = uniqueSorted(nf.keywords)
			if nf.equal(r.flags) {
				continue
			}
			if ms == 0 {
				ms = m.nextModSeq()
			}
			nr := r
			nr.flags, nr.modSeq = nf, ms
			// A mailbox taken over from Dovecot keeps keywords in file
			// names too (dovecotInfo).
			base, info := splitInfo(r.file)
			if name := fileName(base, m.dovecotInfo(info, nf.keywords), nf.sys); nf.sys != r.flags.sys || (name != r.file && m.keepsDovecotFiles()) {
				nr.file = name
				if err := os.Rename(filepath.Join(cur, r.file), filepath.Join(cur, nr.file)); err != nil {
					if errors.Is(err, os.ErrNotExist) {
						continue // removed on disk; the watcher expunges it
					}
					return fmt.Errorf("rename %s: %w", r.file, err)
				}
				renamed = append(renamed, [2]string{r.file, nr.file})
				if err := m.logName(r.file, nr.file); err != nil {
					return err
				}
			}
			if err := m.update(&r, &nr); err != nil {
				return err
			}
			cs.flagged = append(cs.flagged, uid)
			changed = append(changed, nr.message(nr.flags.list()))
		}
		evs = cs.events(h.u.name, m)
		return nil
	}, func() { undoRenames(cur, renamed) })
	if err != nil {
		return nil, nil, fmt.Errorf("store flags in %s: %w", h.name, err)
	}
	h.u.s.publish(evs)
	return changed, failed, nil
}

// undoRenames puts the files of cur back after a failed transaction, the
// last renamed first. It opens no transaction: it runs inside the failed
// one (commitUndoing).
func undoRenames(cur string, renamed [][2]string) {
	for i := len(renamed) - 1; i >= 0; i-- {
		r := renamed[i]
		_ = os.Rename(filepath.Join(cur, r[1]), filepath.Join(cur, r[0]))
	}
}
