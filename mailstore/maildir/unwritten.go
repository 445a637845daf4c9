package maildir

import (
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Index state kept in memory until the mailbox's next write: \Recent
// claims (claimRecent) and the UIDs and MODSEQs of failed announcements
// (endAnnouncement). Each is written by the next transaction that saves
// the mailbox, or before the index closes (flushUnwritten).

// skipSpent moves a mailbox loaded for writing past the UIDs and MODSEQs
// of failed announcements, so that it gives none of them out again.
func (u *userState) skipSpent(m *mboxTx) {
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	if sp, ok := u.spent[m.id]; ok {
		m.meta.uidNext = max(m.meta.uidNext, sp.uidNext)
		m.meta.highestModSeq = max(m.meta.highestModSeq, sp.modSeq)
	}
}

// foldUnwritten puts what memory holds for m into its meta, for its
// transaction to write, and notes once that transaction has committed
// what it wrote. The \Recent mark stays in memory (recent.go).
func (m *mboxTx) foldUnwritten() {
	u, id := m.u, m.id
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	mk := u.recent[id]
	marked := mk != nil && mk.next > m.meta.firstRecent
	sp, spent := u.spent[id]
	if !marked && !spent {
		return
	}
	// The spent UIDs and MODSEQs are in m.meta since loadMbox (skipSpent).
	var c uint32
	if marked {
		c = mk.next
		m.meta.firstRecent = c
	}
	m.tx.OnCommit(func() {
		u.claimMu.Lock()
		defer u.claimMu.Unlock()
		if marked {
			mk.written = max(mk.written, c)
		}
		if spent && u.spent[id] == sp {
			delete(u.spent, id)
		}
	})
}

// hasUnwrittenLocked reports whether memory holds index state to write;
// claimMu held.
func (u *userState) hasUnwrittenLocked() bool {
	return len(u.unwrittenMarks())+len(u.spent) > 0
}

// unwrittenMarks lists the mailboxes whose \Recent mark is ahead of the
// index; claimMu held.
func (u *userState) unwrittenMarks() []uint64 {
	var ids []uint64
	for id, mk := range u.recent {
		if mk.next > mk.written {
			ids = append(ids, id)
		}
	}
	return ids
}

// retire marks the index as closing, so that no claim is made through it
// any more (claim), unless memory still holds state to write or the index
// has unsynced commits (flagsync.go): then it reports false and the
// caller writes and syncs first (flushUnwritten).
func (u *userState) retire(force bool) bool {
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	if !force && (u.hasUnwrittenLocked() || u.isDirty()) {
		return false
	}
	u.retired = true
	return true
}

// flushUnwritten syncs an index with unsynced commits and writes the
// state no other transaction carried. When that
// fails it is given up, logged: memory still holds the \Recent marks, so
// no claim is given twice while the index is open, but after it closes
// the claimed messages may be recent again, as after a crash.
func (u *userState) flushUnwritten() {
	if err := u.syncDelayed(); err != nil {
		u.s.log.Warn("sync index", "user", u.name, "err", err)
	}
	u.claimMu.Lock()
	ids := u.unwrittenMarks()
	for id := range u.spent {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	u.claimMu.Unlock()
	if len(ids) == 0 {
		return
	}
	var gone []uint64
	err := u.update(func(tx *bolt.Tx) error {
		gone = gone[:0]
		for _, id := range ids {
			m, err := u.loadMbox(tx, id)
			if err != nil {
				gone = append(gone, id) // deleted since: nothing to write
				continue
			}
			if err := m.save(); err != nil {
				return err
			}
		}
		return nil
	})
	u.claimMu.Lock()
	for _, id := range gone {
		delete(u.recent, id) // mailbox ids are never given out again
		delete(u.spent, id)
	}
	u.claimMu.Unlock()
	if err != nil {
		u.s.log.Warn("write index state kept in memory", "user", u.name, "err", err)
		u.claimMu.Lock()
		for _, mk := range u.recent {
			mk.written = mk.next
		}
		clear(u.spent)
		u.claimMu.Unlock()
	}
}
