package imapserver

import (
	"crypto/tls"
	"net"
	"time"
)

// This file gives a front that checks logins itself (`dormouse proxy`,
// package proxy) the server's own guards, so that the proxy limits
// clients as the server does without a second copy of the rules.

// LoginPenalty is the server's failed-login penalty (loginPenalty): per
// client address and per user name at an address, a wait before the
// password is checked once recent failures pass their allowance.
type LoginPenalty struct{ p *loginPenalty }

// NewLoginPenalty returns a penalty with l's allowances, refill and
// maximum wait.
func NewLoginPenalty(l Limits) *LoginPenalty { return &LoginPenalty{newLoginPenalty(l)} }

// Delay returns how long a login attempt by user (auth.CanonicalName)
// from addr (AddrKey) waits before its password is checked.
func (p *LoginPenalty) Delay(addr, user string) time.Duration {
	d, _ := p.p.delay(addr, user)
	return d
}

// Failed counts a failed login by user from addr.
func (p *LoginPenalty) Failed(addr, user string) { p.p.failed(addr, user) }

// Succeeded forgives user's failures at addr.
func (p *LoginPenalty) Succeeded(addr, user string) { p.p.succeeded(addr, user) }

// PreAuthLimiter counts the unauthenticated connections of each client
// address (preAuthLimiter).
type PreAuthLimiter struct{ l *preAuthLimiter }

// NewPreAuthLimiter returns a limiter allowing max unauthenticated
// connections per address (0: no limit).
func NewPreAuthLimiter(max int) *PreAuthLimiter { return &PreAuthLimiter{newPreAuthLimiter(max)} }

// Acquire counts one more unauthenticated connection from key (AddrKey);
// false when key has the maximum already.
func (l *PreAuthLimiter) Acquire(key string) bool {
	ok, _ := l.l.acquire(key, time.Now())
	return ok
}

// Release undoes one successful Acquire.
func (l *PreAuthLimiter) Release(key string) { l.l.release(key) }

// AddrKey is the key under which a client address is limited: its IP,
// or its /64 for IPv6.
func AddrKey(a net.Addr) string { return addrKey(a) }

// IsLoopback reports whether addr is a loopback address (PlaintextLoopback).
func IsLoopback(addr net.Addr) bool { return isLoopback(addr) }

// TLSPending reports whether c holds input above its socket, where a
// poller watching the socket cannot see it (tlsPending).
func TLSPending(c *tls.Conn) bool { return tlsPending(c) }
