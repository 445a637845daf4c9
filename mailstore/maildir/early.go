package maildir

import (
	"sync"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// The Store is a mailstore.EarlyAnnouncer: a transaction that only adds
// messages announces them to the early watchers (WatchEarly) once their
// UIDs are assigned, before its commit, and every read of the user's
// index waits until the transaction has committed or failed
// (userState.view, waitAnnounced), so nobody reads a UID before it
// lasts. Without early watchers nothing is announced and nobody waits.

var _ mailstore.EarlyAnnouncer = (*Store)(nil)

// earlyWatchers holds the Store's early watchers; the slice is replaced,
// never changed in place, so announce calls a copy without the lock.
type earlyWatchers struct {
	mu  sync.Mutex
	fns []*func(mailstore.EarlyAdd)
}

// WatchEarly implements mailstore.EarlyAnnouncer.
func (s *Store) WatchEarly(fn func(mailstore.EarlyAdd)) (cancel func()) {
	w := &s.early
	p := &fn
	w.mu.Lock()
	w.fns = append(w.fns[:len(w.fns):len(w.fns)], p)
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			fns := make([]*func(mailstore.EarlyAdd), 0, len(w.fns))
			for _, f := range w.fns {
				if f != p {
					fns = append(fns, f)
				}
			}
			w.fns = fns
			w.mu.Unlock()
		})
	}
}

// watchers returns the early watchers at this moment.
func (w *earlyWatchers) watchers() []*func(mailstore.EarlyAdd) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fns
}

// earlyAdd is the early announcement of a transaction that only added
// messages to m, whose HIGHESTMODSEQ was since before it; ok is false for
// any other change, and for a mailbox whose state the transaction
// created.
func (cs *changeSet) earlyAdd(u *userState, m *mboxTx, since uint64) (a mailstore.EarlyAdd, ok bool) {
	if len(cs.added) == 0 || len(cs.flagged) > 0 || len(cs.expunged) > 0 || m.fresh {
		return mailstore.EarlyAdd{}, false
	}
	id, first, next := m.id, m.meta.firstRecent, m.meta.uidNext
	return mailstore.EarlyAdd{
		Event: mailstore.Event{
			Kind: mailstore.MessagesAdded, User: u.name, Mailbox: m.meta.name,
			UIDs: cs.added, UIDValidity: m.meta.uidValidity,
			HighestModSeq: m.meta.highestModSeq, UIDNext: next,
			At: time.Now(),
		},
		Since:       since,
		Keywords:    append([]string(nil), m.meta.keywords...),
		ClaimRecent: func(upTo uint32) (from, to uint32) { return u.claim(id, first, min(upTo, next)) },
	}, true
}

// announcement is an early announcement made while its transaction has
// yet to commit (announce).
type announcement struct {
	id      uint64 // the mailbox
	uidNext uint32 // its UIDNEXT and HIGHESTMODSEQ as announced
	modSeq  uint64
	done    chan struct{} // closed by endAnnouncement
}

// announce tells the early watchers of a transaction that only added
// messages, on this goroutine, and makes readers of the user's index
// wait for the commit (waitAnnounced); nil when there is nothing to
// announce or nobody to tell. The caller passes the announcement to
// endAnnouncement once the transaction has committed or failed.
func (u *userState) announce(cs *changeSet, m *mboxTx, since uint64) *announcement {
	fns := u.s.early.watchers()
	if len(fns) == 0 {
		return nil
	}
	a, ok := cs.earlyAdd(u, m, since)
	if !ok {
		return nil
	}
	// The previous announcement must have ended: a failed one's UIDs
	// are spent only then. Its transaction has, so this is short.
	u.waitAnnounced()
	done := make(chan struct{})
	u.annMu.Lock()
	u.announced = done
	u.annMu.Unlock()
	for _, fn := range fns {
		(*fn)(a)
	}
	return &announcement{id: m.id, uidNext: m.meta.uidNext, modSeq: m.meta.highestModSeq, done: done}
}

// waitAnnounced waits until no transaction of the user that announced
// its change early is still to commit: whoever heard of the change reads
// it committed. (Writers need no wait: bbolt runs them one at a time.)
func (u *userState) waitAnnounced() {
	u.annMu.Lock()
	ch := u.announced
	u.annMu.Unlock()
	if ch != nil {
		<-ch
	}
}

// endAnnouncement lets readers in again after an announced transaction
// ended with err. When it failed, the UIDs and MODSEQs it announced are
// never given out again by this process (userState.spent): clients may
// hold them, and a UID must not come back for another message.
func (u *userState) endAnnouncement(a *announcement, err error) {
	if a == nil {
		return
	}
	if err != nil {
		u.claimMu.Lock()
		if u.spent == nil {
			u.spent = make(map[uint64]announcement)
		}
		sp := u.spent[a.id]
		u.spent[a.id] = announcement{id: a.id, uidNext: max(sp.uidNext, a.uidNext), modSeq: max(sp.modSeq, a.modSeq)}
		u.claimMu.Unlock()
		u.s.log.Warn("announced new messages whose commit failed; their UIDs are not reused",
			"user", u.name, "uidnext", a.uidNext, "err", err)
	}
	u.annMu.Lock()
	if u.announced == a.done {
		u.announced = nil
	}
	u.annMu.Unlock()
	close(a.done)
}
