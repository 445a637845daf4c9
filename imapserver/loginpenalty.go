package imapserver

import (
	"sync"
	"time"
)

// loginPenalty slows password guessing down without locking anyone out. It counts recent failed logins per client address
// and per user name and address. Once a key has failed more often than its
// allowance, every further login attempt under it waits before its
// password is checked: base, doubled with each further failure, up to max
// (Dovecot's auth_penalty waits 2 s doubling up to 15 s). No attempt is
// refused: the right password is accepted after the wait.
//
// An address's penalty does not touch a user who logged in from it
// lately: a guesser behind the same NAT or webmail as real users slows
// down only itself. Attempts under such a user's own name still count on
// its name-and-address key, so guessing that user's password from there
// is slowed all the same.
//
// The wait holds nothing but the waiting connection, which the guesser
// pays for with one of its address's unauthenticated slots
// (MaxPreAuthPerAddr); it is bounded by max and by the connection's
// context.
//
// Memory is bounded: entries whose failures are forgiven and whose trust
// has lapsed are dropped, and when maxKeys are held arbitrary ones are
// evicted (an evicted key starts afresh).
type loginPenalty struct {
	allowAddr, allowUser float64 // failures before the wait starts; <= 0: that key is off
	refill               time.Duration
	base, max            time.Duration
	maxKeys              int
	now                  func() time.Time

	mu      sync.Mutex
	entries map[penaltyKey]*penaltyEntry
}

// penaltyKey is an address (user "") or a user name at an address.
type penaltyKey struct {
	addr, user string
}

// penaltyEntry is one key's recent failures.
type penaltyEntry struct {
	failures float64   // as of at; one is forgiven every refill
	at       time.Time // last change of failures
	trusted  time.Time // a login succeeded under this key; valid until then
	// delayed counts the waits imposed under an address since loggedAt,
	// for one log line a minute per address.
	delayed  int
	loggedAt time.Time
}

const (
	// maxPenaltyKeys bounds the entries held at once (a few tens of MB at
	// most).
	maxPenaltyKeys = 100_000
	// maxPenaltyName bounds the length of a user name kept in a key.
	maxPenaltyName = 256
	// loginTrust is how long a successful login exempts its user from
	// the address's penalty.
	loginTrust = 24 * time.Hour
	// penaltyLogEvery spaces the log lines about one address's waits.
	penaltyLogEvery = time.Minute
	// penaltySteps is how many doublings lead from base to max.
	penaltySteps = 3
)

func newLoginPenalty(l Limits) *loginPenalty {
	return &loginPenalty{
		allowAddr: float64(l.LoginFailuresPerAddr),
		allowUser: float64(l.LoginFailuresPerUser),
		refill:    l.LoginFailureRefill,
		base:      l.LoginPenaltyMax >> penaltySteps,
		max:       l.LoginPenaltyMax,
		maxKeys:   maxPenaltyKeys,
		now:       time.Now,
		entries:   make(map[penaltyKey]*penaltyEntry),
	}
}

func userKey(addr, name string) penaltyKey {
	if len(name) > maxPenaltyName {
		name = name[:maxPenaltyName]
	}
	return penaltyKey{addr: addr, user: name}
}

// failuresAt returns e's failures at now, with those forgiven since.
func (p *loginPenalty) failuresAt(e *penaltyEntry, now time.Time) float64 {
	f := e.failures
	if p.refill > 0 {
		f -= float64(now.Sub(e.at)) / float64(p.refill)
	}
	return max(f, 0)
}

// wait returns the wait for failures over allow: base for the first one
// over, doubling, at most max.
func (p *loginPenalty) wait(failures, allow float64) time.Duration {
	over := int(failures - allow)
	if allow <= 0 || over < 1 || p.max <= 0 {
		return 0
	}
	d := p.base
	for i := 1; i < over && d < p.max; i++ {
		d *= 2
	}
	return min(d, p.max)
}

// penaltyReport is what to log about an address's waits.
type penaltyReport struct {
	delayed  int     // waits imposed since the last report
	failures float64 // the address's recent failures
}

// delay returns how long a login attempt by user from addr waits, and a
// report when one is due for addr.
func (p *loginPenalty) delay(addr, user string) (time.Duration, *penaltyReport) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	var d time.Duration
	ue := p.entries[userKey(addr, user)]
	if ue != nil {
		d = p.wait(p.failuresAt(ue, now), p.allowUser)
	}
	ae := p.entries[penaltyKey{addr: addr}]
	if ae == nil || (ue != nil && now.Before(ue.trusted)) {
		return d, nil
	}
	failures := p.failuresAt(ae, now)
	d = max(d, p.wait(failures, p.allowAddr))
	if d == 0 {
		return 0, nil
	}
	ae.delayed++
	if now.Sub(ae.loggedAt) < penaltyLogEvery {
		return d, nil
	}
	r := &penaltyReport{delayed: ae.delayed, failures: failures}
	ae.delayed, ae.loggedAt = 0, now
	return d, r
}

// failed counts a failed login by user from addr.
func (p *loginPenalty) failed(addr, user string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.allowAddr > 0 {
		p.add(penaltyKey{addr: addr}, now)
	}
	if p.allowUser > 0 {
		p.add(userKey(addr, user), now)
	}
}

func (p *loginPenalty) add(k penaltyKey, now time.Time) {
	e := p.entry(k, now)
	e.failures = p.failuresAt(e, now) + 1
	e.at = now
}

// entry returns k's entry, made if missing; the table is pruned first when
// full, so that its size stays bounded. p.mu must be held.
func (p *loginPenalty) entry(k penaltyKey, now time.Time) *penaltyEntry {
	e := p.entries[k]
	if e == nil {
		if len(p.entries) >= p.maxKeys {
			p.prune(now)
		}
		e = &penaltyEntry{}
		p.entries[k] = e
	}
	return e
}

// succeeded forgives user's failures at addr and exempts it from addr's
// penalty for loginTrust.
func (p *loginPenalty) succeeded(addr, user string) {
	if p.allowAddr <= 0 && p.allowUser <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	e := p.entry(userKey(addr, user), now)
	e.failures, e.at, e.trusted = 0, now, now.Add(loginTrust)
}

// prune drops the entries with nothing left to remember, then, if that
// was not enough, arbitrary ones until a tenth of the room is free.
func (p *loginPenalty) prune(now time.Time) {
	for k, e := range p.entries {
		if p.failuresAt(e, now) == 0 && !now.Before(e.trusted) {
			delete(p.entries, k)
		}
	}
	for k := range p.entries {
		if len(p.entries) < p.maxKeys-p.maxKeys/10 {
			break
		}
		delete(p.entries, k)
	}
}

// loginPenaltyWait makes a login attempt wait out its penalty before its
// password is checked; an error only when the connection ends meanwhile.
// Only failures already known count: attempts under way do not, so that a
// webmail or a phone logging in many times at once from one address is
// never made to wait by its own crowd. A guessing burst sent at once
// passes until its first failures are known; its password checks then
// run at most half the cores at a time (auth.PasswdFile), and every later
// attempt from its address waits.
func (c *conn) loginPenaltyWait(username string) error {
	d, report := c.srv.penalty.delay(c.addrKey, username)
	if d <= 0 {
		return nil
	}
	c.srv.cfg.GuardMetrics.refuse(delayedLogin)
	if report != nil {
		// One line a minute per address, however many attempts wait.
		c.log.Warn("login attempts delayed after failed logins", "remote", c.addrKey,
			"user", username, "delay", d, "delayed", report.delayed, "recent_failures", int(report.failures))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
		return &byeError{text: "Server shutting down", err: errShutdown}
	}
	// A guesser that gave up while it waited is not worth a password hash.
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	if nc != nil && peerClosed(nc) {
		return &byeError{text: "Connection closed", err: errClientGone}
	}
	return nil
}
