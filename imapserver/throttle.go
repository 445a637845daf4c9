package imapserver

import (
	"sync"
	"time"
)

// loginThrottle limits failed logins per client address and per user name
// with token buckets: each key may fail burst times, and one failure is
// forgiven every refill. A key with an empty bucket is refused before its
// password is even checked, which also spares the CPU the hash.
//
// Memory is bounded: buckets that have refilled are dropped, and when
// maxKeys are held the oldest-looking ones are evicted (an evicted key
// starts afresh, which costs an attacker a new address or name each time).
type loginThrottle struct {
	burstAddr, burstUser float64 // <= 0: that limit is off
	refill               time.Duration
	maxKeys              int
	now                  func() time.Time

	mu      sync.Mutex
	buckets map[throttleKey]bucket
}

// throttleKey is an address or a user name.
type throttleKey struct {
	user bool
	name string
}

// bucket holds the tokens left at a time; tokens grow back with time.
type bucket struct {
	tokens float64
	at     time.Time
}

// maxThrottleKeys bounds the buckets held at once (a few MB at most).
const maxThrottleKeys = 100_000

// maxThrottleName bounds the length of a user name kept as a key.
const maxThrottleName = 256

func newLoginThrottle(l Limits) *loginThrottle {
	return &loginThrottle{
		burstAddr: float64(l.LoginFailuresPerAddr),
		burstUser: float64(l.LoginFailuresPerUser),
		refill:    l.LoginFailureRefill,
		maxKeys:   maxThrottleKeys,
		now:       time.Now,
		buckets:   make(map[throttleKey]bucket),
	}
}

func userKey(name string) throttleKey {
	if len(name) > maxThrottleName {
		name = name[:maxThrottleName]
	}
	return throttleKey{user: true, name: name}
}

// level returns the tokens of k now, refilled up to burst.
func (t *loginThrottle) level(k throttleKey, burst float64, now time.Time) float64 {
	b, ok := t.buckets[k]
	if !ok {
		return burst
	}
	if t.refill > 0 {
		b.tokens += float64(now.Sub(b.at)) / float64(t.refill)
	}
	return min(b.tokens, burst)
}

// check returns the refusal reason when addr or user has no failures left,
// or "".
func (t *loginThrottle) check(addr, user string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.burstAddr > 0 && t.level(throttleKey{name: addr}, t.burstAddr, now) < 1 {
		return refusedThrottledAddr
	}
	if t.burstUser > 0 && t.level(userKey(user), t.burstUser, now) < 1 {
		return refusedThrottledUser
	}
	return ""
}

// failed takes one token from addr's and user's buckets.
func (t *loginThrottle) failed(addr, user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.burstAddr > 0 {
		t.take(throttleKey{name: addr}, t.burstAddr, now)
	}
	if t.burstUser > 0 {
		t.take(userKey(user), t.burstUser, now)
	}
}

func (t *loginThrottle) take(k throttleKey, burst float64, now time.Time) {
	if _, ok := t.buckets[k]; !ok && len(t.buckets) >= t.maxKeys {
		t.prune(now)
	}
	t.buckets[k] = bucket{tokens: max(t.level(k, burst, now)-1, 0), at: now}
}

// prune drops the buckets that have refilled, then, if that was not
// enough, arbitrary ones until a tenth of the room is free.
func (t *loginThrottle) prune(now time.Time) {
	for k := range t.buckets {
		burst := t.burstAddr
		if k.user {
			burst = t.burstUser
		}
		if t.level(k, burst, now) >= burst {
			delete(t.buckets, k)
		}
	}
	for k := range t.buckets {
		if len(t.buckets) < t.maxKeys-t.maxKeys/10 {
			break
		}
		delete(t.buckets, k)
	}
}

// throttled refuses a login when its address or user name has failed too
// often lately; nil lets it through.
func (c *conn) throttled(username string) error {
	reason := c.srv.throttle.check(c.addrKey, username)
	if reason == "" {
		return nil
	}
	c.srv.cfg.GuardMetrics.refuse(reason)
	c.log.Warn("login throttled", "user", username, "remote", c.addrKey, "reason", reason)
	return errNO("UNAVAILABLE", "Too many failed logins; try again later")
}

// loginFailed records a failed login for throttling.
func (c *conn) loginFailed(username string) {
	c.srv.throttle.failed(c.addrKey, username)
}
