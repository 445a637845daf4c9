package imapserver

import (
	"fmt"
	"sync"
)

// userConnLimiter counts the logged-in connections of each user, and of
// each user at each client address (Dovecot's mail_max_userip_connections).
// Its maps hold only users with a connection counted, so their size is
// bounded by the number of open connections.
//
// A hibernated session is not counted: it holds no goroutine, buffer or
// open index, only its socket, and it is counted again (without a check)
// when it wakes, since a session in the middle of its IDLE cannot be
// refused. The limits therefore bound the active sessions of a user.
type userConnLimiter struct {
	maxUser, maxUserAddr int // 0: that limit is off

	mu         sync.Mutex
	byUser     map[string]int
	byUserAddr map[userAddr]int
}

type userAddr struct{ user, addr string }

func newUserConnLimiter(l Limits) *userConnLimiter {
	return &userConnLimiter{
		maxUser:     l.MaxConnsPerUser,
		maxUserAddr: l.MaxConnsPerUserAddr,
		byUser:      make(map[string]int),
		byUserAddr:  make(map[userAddr]int),
	}
}

// acquire counts one more connection of user from addr, unless force is
// false and a limit is reached: then it returns the reason and counts
// nothing.
func (l *userConnLimiter) acquire(user, addr string, force bool) string {
	if l.maxUser <= 0 && l.maxUserAddr <= 0 {
		return ""
	}
	ua := userAddr{user, addr}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !force {
		if l.maxUserAddr > 0 && l.byUserAddr[ua] >= l.maxUserAddr {
			return refusedUserAddrConns
		}
		if l.maxUser > 0 && l.byUser[user] >= l.maxUser {
			return refusedUserConns
		}
	}
	l.byUser[user]++
	l.byUserAddr[ua]++
	return ""
}

// release undoes one acquire.
func (l *userConnLimiter) release(user, addr string) {
	if l.maxUser <= 0 && l.maxUserAddr <= 0 {
		return
	}
	ua := userAddr{user, addr}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.byUser[user]; n > 1 {
		l.byUser[user] = n - 1
	} else {
		delete(l.byUser, user)
	}
	if n := l.byUserAddr[ua]; n > 1 {
		l.byUserAddr[ua] = n - 1
	} else {
		delete(l.byUserAddr, ua)
	}
}

// countUser counts c as a connection of user, refusing the login when a
// per-user limit is reached, with the answer Dovecot gives (NO
// [UNAVAILABLE]: the client may try again later). force counts a waking
// session without a check.
func (c *conn) countUser(user string, force bool) error {
	reason := c.srv.userConns.acquire(user, c.addrKey, force)
	switch reason {
	case "":
		c.userCounted = user
		return nil
	case refusedUserAddrConns:
		c.srv.cfg.GuardMetrics.refuse(reason)
		c.log.Warn("login refused: too many connections", "user", user, "remote", c.addrKey, "limit", "per user and address")
		return errNO("UNAVAILABLE", fmt.Sprintf("Maximum number of connections from user+IP exceeded (max_connections_per_user_addr=%d)", c.srv.limits.MaxConnsPerUserAddr))
	default:
		c.srv.cfg.GuardMetrics.refuse(reason)
		c.log.Warn("login refused: too many connections", "user", user, "remote", c.addrKey, "limit", "per user")
		return errNO("UNAVAILABLE", fmt.Sprintf("Maximum number of connections for user exceeded (max_connections_per_user=%d)", c.srv.limits.MaxConnsPerUser))
	}
}

// uncountUser releases what countUser counted: when the connection ends
// or hibernates.
func (c *conn) uncountUser() {
	if c.userCounted != "" {
		c.srv.userConns.release(c.userCounted, c.addrKey)
		c.userCounted = ""
	}
}
