package maildir

import (
	"maps"
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
// transaction to write, and forgets it once that transaction has
// committed, unless newer state came meanwhile.
func (m *mboxTx) foldUnwritten() {
	u, id := m.u, m.id
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	c, claimed := u.claimed[id]
	sp, spent := u.spent[id]
	if !claimed && !spent {
		return
	}
	// The spent UIDs and MODSEQs are in m.meta since loadMbox (skipSpent).
	m.meta.firstRecent = max(m.meta.firstRecent, c)
	m.tx.OnCommit(func() {
		u.claimMu.Lock()
		defer u.claimMu.Unlock()
		if claimed && u.claimed[id] == c {
			delete(u.claimed, id)
		}
		if spent && u.spent[id] == sp {
			delete(u.spent, id)
		}
	})
}

// hasUnwritten reports whether memory holds index state to write.
func (u *userState) hasUnwritten() bool {
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	return len(u.claimed)+len(u.spent) > 0
}

// flushUnwritten writes the state no other transaction carried. When that
// fails it is dropped, logged: claimed messages may be recent again.
func (u *userState) flushUnwritten() {
	u.claimMu.Lock()
	ids := slices.Collect(maps.Keys(u.claimed))
	for id := range u.spent {
		if _, ok := u.claimed[id]; !ok {
			ids = append(ids, id)
		}
	}
	u.claimMu.Unlock()
	if len(ids) == 0 {
		return
	}
	err := u.update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			m, err := u.loadMbox(tx, id)
			if err != nil {
				continue // deleted since: nothing to write
			}
			if err := m.save(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		u.s.log.Warn("write index state kept in memory", "user", u.name, "err", err)
		u.claimMu.Lock()
		clear(u.claimed)
		clear(u.spent)
		u.claimMu.Unlock()
	}
}
