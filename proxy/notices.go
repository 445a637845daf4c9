package proxy

import "sync"

// Notices is the change-notice feed the proxy hears (package notice over
// NATS).
type Notices interface {
	// SubscribeUser calls fn for every change notice about user until
	// the returned cancel is called.
	SubscribeUser(user string, fn func(Change)) (cancel func(), err error)
}

// Change is what the proxy needs of a notice.
type Change struct {
	User, Mailbox string // Mailbox "" for a user-wide change
	HighestModSeq uint64
	UIDNext       uint32
}

// userTable holds, per user with a session at the proxy (awake or
// asleep), its notice subscription.
type userTable struct {
	p  *Proxy
	mu sync.Mutex
	m  map[string]*userEntry
}

type userEntry struct {
	refs   int
	cancel func()
}

func newUserTable(p *Proxy) *userTable {
	return &userTable{p: p, m: make(map[string]*userEntry)}
}

// hold counts a session of user, subscribing to its notices with the
// first.
func (u *userTable) hold(user string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e := u.m[user]
	if e == nil {
		e = &userEntry{}
		u.m[user] = e
	}
	e.refs++
}

// release undoes hold, unsubscribing with the last.
func (u *userTable) release(user string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e := u.m[user]
	if e == nil {
		return
	}
	if e.refs--; e.refs <= 0 {
		delete(u.m, user)
		if e.cancel != nil {
			e.cancel()
		}
	}
}

func (u *userTable) close() {}
