package maildir

import (
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// claimRecent moves the mailbox's first-recent UID to UIDNEXT and returns
// the range of UIDs this caller now holds as \Recent: [from, to). Like
// Dovecot, a message is recent for exactly one session (RFC 9051 2.3.2
// leaves IMAP4rev1's \Recent to the server).
//
// The claim is made in memory (userState.claimed) and reaches the index
// with the next transaction that saves the mailbox, or before the index
// closes (flushClaims): a claim of its own would cost a commit, two
// fdatasyncs, which a hibernated session told of new mail would wait for
// after the delivery's own, and which would slow the next delivery. A
// crash before the claim is written makes the messages recent again for
// the first session after the restart, which is then the first to see
// them.
func (h *mailboxHandle) claimRecent() (from, to uint32, err error) {
	u := h.u
	err = h.view(func(m *mboxTx) error {
		from, to = m.meta.firstRecent, m.meta.uidNext
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	// Not inside the read transaction: Status takes claimMu inside one.
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	from = max(from, u.claimed[h.id])
	if from >= to {
		return 0, 0, nil
	}
	if u.claimed == nil {
		u.claimed = make(map[uint64]uint32)
	}
	u.claimed[h.id] = to
	return from, to, nil
}

// firstRecent is a mailbox's first recent UID: the index's, or that of a
// claim not written yet.
func (u *userState) firstRecent(id uint64, inIndex uint32) uint32 {
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	return max(inIndex, u.claimed[id])
}

// takeClaim returns the first-recent UID that mailbox id's claims ask
// tx to write (0: none), and forgets the claim once tx has committed,
// unless a newer one came meanwhile.
func (u *userState) takeClaim(tx *bolt.Tx, id uint64) uint32 {
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	c := u.claimed[id]
	if c == 0 {
		return 0
	}
	tx.OnCommit(func() {
		u.claimMu.Lock()
		defer u.claimMu.Unlock()
		if u.claimed[id] == c {
			delete(u.claimed, id)
		}
	})
	return c
}

func (u *userState) hasClaims() bool {
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	return len(u.claimed) > 0
}

// flushClaims writes the claims no other transaction carried. When that
// fails they are dropped, logged: the messages may be recent again.
func (u *userState) flushClaims() {
	u.claimMu.Lock()
	ids := slices.Collect(maps.Keys(u.claimed))
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
		u.s.log.Warn("write claims of recent messages", "user", u.name, "err", err)
		u.claimMu.Lock()
		clear(u.claimed)
		u.claimMu.Unlock()
	}
}
