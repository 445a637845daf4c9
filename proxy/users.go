package proxy

import (
	"sync"

	"github.com/dormouse/dormouse/notice"
)

// userTable holds, per user with a session at the proxy (awake or
// asleep), its notice subscription and a count of the notices heard,
// with the last few of them.
type userTable struct {
	p  *Proxy
	mu sync.Mutex
	m  map[string]*userEntry
}

// keptNotices is how many of a user's last notices are kept, for a
// sleeper re-armed after notices it did not see (arm): more than that
// since it was taken, and it wakes.
const keptNotices = 4

// userEntry is one user's: about 64 bytes beside its Subscription.
type userEntry struct {
	refs int
	// ready is closed once the subscription is in force (or failed),
	// and dropped then (a channel is 96 bytes a user).
	ready chan struct{}
	sub   Subscription
	// seq counts the notices heard; last holds the last ones, the one
	// numbered s at last[s%keptNotices] (allocated with the first).
	seq  uint64
	last *[keptNotices]notice.Notice
}

func newUserTable(p *Proxy) *userTable {
	return &userTable{p: p, m: make(map[string]*userEntry)}
}

// hold counts a session of user. The first subscribes to the user's
// notices and returns once the subscription is in force; the others wait
// for that too. A failed subscription is logged: the session goes on,
// its sleepers woken by their clients only.
func (u *userTable) hold(user string) {
	u.mu.Lock()
	e := u.m[user]
	if e != nil {
		e.refs++
		ready := e.ready
		u.mu.Unlock()
		if ready != nil {
			<-ready
		}
		return
	}
	ready := make(chan struct{})
	e = &userEntry{refs: 1, ready: ready}
	u.m[user] = e
	u.mu.Unlock()
	var sub Subscription
	if n := u.p.cfg.Notices; n != nil {
		var err error
		sub, err = n.SubscribeUser(user)
		if err != nil {
			u.p.log.Warn("subscribe to notices", "user", user, "err", err)
		}
	}
	u.mu.Lock()
	e.sub = sub
	e.ready = nil
	gone := e.refs == 0 // released meanwhile
	u.mu.Unlock()
	close(ready)
	if gone && sub != nil {
		unsubscribe(sub)
	}
}

// release undoes hold, unsubscribing with the last.
func (u *userTable) release(user string) {
	u.mu.Lock()
	e := u.m[user]
	if e == nil {
		u.mu.Unlock()
		return
	}
	e.refs--
	var sub Subscription
	if e.refs <= 0 {
		delete(u.m, user)
		sub, e.sub = e.sub, nil
	}
	u.mu.Unlock()
	if sub != nil {
		unsubscribe(sub)
	}
}

// unsubscribe ends sub; an error (NATS closed) leaves nothing to undo.
func unsubscribe(sub Subscription) {
	_ = sub.Unsubscribe()
}

// noted counts a notice of its user.
func (u *userTable) noted(n *notice.Notice) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e := u.m[n.User]
	if e == nil {
		return
	}
	if e.last == nil {
		e.last = new([keptNotices]notice.Notice)
	}
	e.seq++
	e.last[e.seq%keptNotices] = *n
}

// noteAll marks every user as having heard more notices than are kept:
// every IDLE or NOTIFY sleeper being answered wakes when it is re-armed.
func (u *userTable) noteAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, e := range u.m {
		e.seq += keptNotices + 1
	}
}

// seq returns the user's notice count.
func (u *userTable) seq(user string) uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if e := u.m[user]; e != nil {
		return e.seq
	}
	return 0
}

// missed reports whether a notice heard after the since'th would wake a
// sleeper of user (wake says; one no longer kept counts as waking).
func (u *userTable) missed(user string, since uint64, wake func(*notice.Notice) bool) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	e := u.m[user]
	if e == nil || e.seq == since {
		return false
	}
	if e.seq-since > keptNotices || e.last == nil {
		return true
	}
	for s := since + 1; s <= e.seq; s++ {
		if wake(&e.last[s%keptNotices]) {
			return true
		}
	}
	return false
}

// len is the number of users held.
func (u *userTable) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.m)
}
