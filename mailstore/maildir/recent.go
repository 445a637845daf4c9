package maildir

// claimRecent moves the mailbox's first-recent UID to UIDNEXT and returns
// the range of UIDs this caller now holds as \Recent: [from, to). Like
// Dovecot, a message is recent for exactly one session (RFC 9051 2.3.2
// leaves IMAP4rev1's \Recent to the server).
//
// The claim is made in memory (userState.claimed) and reaches the index
// with the next transaction that saves the mailbox, or before the index
// closes (flushUnwritten): a claim of its own would cost a commit, two
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
	from, to = u.claim(h.id, from, to)
	return from, to, nil
}

// claim gives the caller the messages of mailbox id from first (the
// index's first-recent UID) to uidNext that no other claim took.
func (u *userState) claim(id uint64, first, uidNext uint32) (from, to uint32) {
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	from = max(first, u.claimed[id])
	if from >= uidNext {
		return 0, 0
	}
	if u.claimed == nil {
		u.claimed = make(map[uint64]uint32)
	}
	u.claimed[id] = uidNext
	return from, uidNext
}

// firstRecent is a mailbox's first recent UID: the index's, or that of a
// claim not written yet.
func (u *userState) firstRecent(id uint64, inIndex uint32) uint32 {
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	return max(inIndex, u.claimed[id])
}
