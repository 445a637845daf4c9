package imapserver

import (
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dormouse/dormouse/hibernate"
)

// Session is one IMAP connection as an administrator sees it
// (`dormouse who`).
type Session struct {
	User   string // "" before login
	Remote string // the client's address
	// Asleep says the connection is hibernated; Mailbox is then the
	// mailbox it idles on, and Since when it went to sleep. Awake, Since
	// is when the connection was accepted (or woken).
	Asleep  bool
	Mailbox string
	Since   time.Time
}

// connAdmin is what other goroutines may read of an awake connection: the
// session's own fields belong to its goroutine.
type connAdmin struct {
	user atomic.Pointer[string]
	// client is the client's address a proxy gave (XPROXY, XRESUME);
	// nil when the peer is the client.
	client atomic.Pointer[string]
	since  time.Time // set before the connection is shared
}

// setUser records the logged-in user for Sessions.
func (a *connAdmin) setUser(name string) { a.user.Store(&name) }

// Sessions lists the open connections, awake and asleep, by user.
func (s *Server) Sessions() []Session {
	var out []Session
	s.mu.Lock()
	for c := range s.conns {
		ses := Session{Remote: c.remoteAddr(), Since: c.admin.since}
		if u := c.admin.user.Load(); u != nil {
			ses.User = *u
		}
		out = append(out, ses)
	}
	s.mu.Unlock()
	if s.hib != nil {
		out = s.hib.appendSessions(out)
	}
	slices.SortFunc(out, func(a, b Session) int {
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return a.Since.Compare(b.Since)
	})
	return out
}

// Kick disconnects every connection of user: a sleeper is told
// "* BYE Disconnected by the administrator" and closed; an awake session's
// socket is closed under it (its command in flight ends, as at the end of
// a shutdown's grace time). It returns how many connections it ended, and
// how many were waking at that moment and were left alone (kick again).
func (s *Server) Kick(user string) (kicked, waking int) {
	if s.hib != nil {
		kicked, waking = s.hib.kick(user)
	}
	s.mu.Lock()
	var victims []*conn
	for c := range s.conns {
		if u := c.admin.user.Load(); u != nil && *u == user {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, c := range victims {
		c.log.Info("disconnected by the administrator")
		c.forceClose()
	}
	return kicked + len(victims), waking
}

// remoteAddr returns the client's address (as its proxy gave it, for a
// proxied session), or "" once the socket went to the hibernator.
func (c *conn) remoteAddr() string {
	if a := c.admin.client.Load(); a != nil {
		return *a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc == nil {
		return ""
	}
	return c.nc.RemoteAddr().String()
}

// byeKicked is what a sleeper is told when an administrator ends it.
const byeKicked = "* BYE Disconnected by the administrator\r\n"

// eachSleeper calls fn for every sleeper (h.mu held).
func (h *hibernator) eachSleeper(fn func(tok hibernate.Token, info hibernate.Info, user, mailbox string)) {
	for _, tok := range h.table.AppendTokens(nil) {
		info, err := h.table.Lookup(tok)
		if err != nil {
			continue
		}
		user, mailbox := h.table.Subscriptions().Key(info.Sub)
		fn(tok, info, user, mailbox)
	}
}

// appendSessions appends the sleepers to out.
func (h *hibernator) appendSessions(out []Session) []Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return out
	}
	h.eachSleeper(func(tok hibernate.Token, info hibernate.Info, user, mailbox string) {
		out = append(out, Session{User: user, Remote: peerName(info.FD), Asleep: true, Mailbox: mailbox, Since: info.Since})
	})
	return out
}

// kick ends user's sleepers, as autologout does; those with an owner
// (waking, or answered in place) are counted in waking.
func (h *hibernator) kick(user string) (kicked, waking int) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return 0, 0
	}
	var victims []closingSleeper
	h.eachSleeper(func(tok hibernate.Token, info hibernate.Info, u, _ string) {
		if u != user {
			return
		}
		s, ok := h.takeArmed(tok)
		if !ok {
			waking++
			return
		}
		victims = append(victims, closingSleeper{tok, s})
	})
	h.mu.Unlock()
	for _, v := range victims {
		h.end(v.tok, v.s, byeKicked)
	}
	return len(victims), waking
}

// peerName returns the address of the client on socket fd.
func peerName(fd int) string {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return ""
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return (&net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}).String()
	case *unix.SockaddrInet6:
		return (&net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}).String()
	}
	return ""
}
