package maildir

// IMAP4rev1 \Recent (RFC 3501 2.3.2): a message is recent in exactly one
// session, the first to be told of it. Each mailbox has a mark, the first
// UID no session has claimed; a claim takes the UIDs from the mark to the
// UIDNEXT the claimer has learned and moves the mark there, in one step
// under userState.claimMu (claim). The mark lives in memory for as long as
// the user's index is open and only grows; the index's first-recent UID
// is a copy of it that reaches the disk with the mailbox's next write, or
// before the index closes (flushUnwritten): a claim of its own would cost
// a commit, two fdatasyncs, which a hibernated session told of new mail
// would wait for after the delivery's own. A crash before the mark is
// written makes the messages recent again for the first session after the
// restart, which is then the first to see them.
//
// Why the mark is never taken out of memory while the index is open: a
// claimer reads the index's first-recent UID in a read transaction and
// claims afterwards. Until 6fe1f68 the in-memory claim was forgotten once
// a transaction had written it, so a claimer whose read came before that
// commit and whose claim came after it started from the old first-recent
// UID and took again what another session held (a stress client: \Recent in
// sessions 16 and 12). The index's value is now only a starting point for
// a mailbox whose mark memory does not hold yet, which happens only while
// the index holds exactly what the last process left.

// recentMark is one mailbox's \Recent mark in memory.
type recentMark struct {
	next    uint32 // the first UID no session has claimed; only grows
	written uint32 // the highest next a committed transaction wrote
}

// claimRecent claims, for the caller, the messages of the mailbox from
// its mark to upTo: [from, to), empty (0, 0) when another claim took them.
// upTo is the UIDNEXT the caller's view has learned: a message it has not
// seen yet stays for the next claim, so a message is recent for one of
// the sessions first told of it.
func (h *mailboxHandle) claimRecent(upTo uint32) (from, to uint32, err error) {
	var first uint32
	err = h.view(func(m *mboxTx) error {
		first = m.meta.firstRecent
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	from, to = h.u.claim(h.id, first, upTo)
	return from, to, nil
}

// claim is the compare-and-advance of mailbox id's mark: it gives the
// caller [max(mark, inIndex), upTo) and moves the mark to upTo. inIndex is
// the index's first-recent UID as the caller read it, possibly before a
// commit that wrote a newer one: it only counts while memory holds no mark.
// Once the index is retired (about to close) nothing can be claimed
// through it: a claim must be made through the index open now.
func (u *userState) claim(id uint64, inIndex, upTo uint32) (from, to uint32) {
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	if u.retired {
		return 0, 0
	}
	mk := u.recent[id]
	if mk == nil {
		if u.recent == nil {
			u.recent = make(map[uint64]*recentMark)
		}
		mk = &recentMark{next: inIndex, written: inIndex}
		u.recent[id] = mk
	}
	from = max(inIndex, mk.next)
	if from >= upTo {
		return 0, 0
	}
	mk.next = upTo
	return from, upTo
}

// firstRecent is a mailbox's first recent UID: the index's, or that of a
// claim not written yet.
func (u *userState) firstRecent(id uint64, inIndex uint32) uint32 {
	u.claimMu.Lock()
	defer u.claimMu.Unlock()
	if mk := u.recent[id]; mk != nil {
		return max(inIndex, mk.next)
	}
	return inIndex
}
