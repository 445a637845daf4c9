package imapserver

import (
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// addrKey is the key under which a client address is limited: its IP, or
// for IPv6 its /64, which one subscriber usually holds whole. A socket
// whose peer reset it before it was handed to a session (a sleeper's,
// woken by a command the client sent just before its reset) has no peer
// address: "", a key of its own.
func addrKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	var ip net.IP
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.IP
	default:
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return a.String()
		}
		ip = net.ParseIP(host)
		if ip == nil {
			return host
		}
	}
	if ip.To4() == nil && len(ip) == net.IPv6len {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// preAuthLimiter counts the unauthenticated connections of each client
// address. Its map holds only addresses with such a connection open, so its
// size is bounded by the number of open connections.
type preAuthLimiter struct {
	max int // 0: no limit

	mu     sync.Mutex
	byAddr map[string]*preAuthAddr
}

// preAuthAddr is one address's open unauthenticated connections and the
// refusals not yet logged.
type preAuthAddr struct {
	open     int
	refused  int       // refusals since loggedAt, not yet in a log line
	loggedAt time.Time // last log line about this address's refusals
}

// refusalLogEvery spaces the log lines about one address's refused
// connections: a flood refused thousands of times a minute must not turn
// into as many lines (disk, and CPU the other clients need).
const refusalLogEvery = time.Minute

func newPreAuthLimiter(max int) *preAuthLimiter {
	return &preAuthLimiter{max: max, byAddr: make(map[string]*preAuthAddr)}
}

// acquire counts one more unauthenticated connection from key; false when
// key already has the maximum. For a refusal, report is how many refusals
// from key to log now (the ones since the last line, this one included),
// or 0 while a line about key is less than refusalLogEvery old.
func (l *preAuthLimiter) acquire(key string, now time.Time) (ok bool, report int) {
	if l.max <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.byAddr[key]
	if a == nil {
		a = &preAuthAddr{}
		l.byAddr[key] = a
	}
	if a.open < l.max {
		a.open++
		return true, 0
	}
	a.refused++
	if now.Sub(a.loggedAt) < refusalLogEvery {
		return false, 0
	}
	report, a.refused, a.loggedAt = a.refused, 0, now
	return false, report
}

// release undoes one acquire.
func (l *preAuthLimiter) release(key string) {
	if l.max <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.byAddr[key]
	if a == nil {
		return
	}
	if a.open > 1 {
		a.open--
	} else {
		delete(l.byAddr, key)
	}
}

// admit registers c as an unauthenticated connection of its address; false
// when its address has too many: a plain connection is told so with
// "* BYE [UNAVAILABLE]", an implicit-TLS one is closed without a word.
func (c *conn) admit() bool {
	c.addrKey = addrKey(c.nc.RemoteAddr())
	c.loginDeadline = time.Now().Add(c.srv.limits.LoginTimeout)
	if !c.holdPreAuth() {
		if c.tls {
			// Implicit TLS before its handshake: a BYE would need a
			// handshake first, which would cost the server a key
			// exchange for a client it refuses and hold the socket
			// while a silent client sends nothing. The socket is
			// closed at once; the client sees the connection end and
			// retries later, as after any failed connection.
			return false
		}
		c.bye("[UNAVAILABLE] Too many connections from your address; try again later")
		return false
	}
	return true
}

// holdPreAuth counts c as an unauthenticated connection of its address;
// false, counted and logged (one line a minute per address), when its
// address has too many.
func (c *conn) holdPreAuth() bool {
	ok, report := c.srv.preAuth.acquire(c.addrKey, time.Now())
	if !ok {
		c.srv.cfg.GuardMetrics.refuse(refusedPreAuthLimit)
		if report > 0 {
			c.log.Warn("too many unauthenticated connections; refusing", "remote", c.addrKey, "refused", report)
		}
		return false
	}
	c.preAuthHeld = true
	return true
}

// leavePreAuth stops counting c as unauthenticated: at login and at close.
func (c *conn) leavePreAuth() {
	if c.preAuthHeld {
		c.preAuthHeld = false
		c.srv.preAuth.release(c.addrKey)
	}
}

// Reasons for a refusal or a delay, the label of
// dormouse_imap_refused_total.
const (
	refusedPreAuthLimit  = "preauth_addr_limit"
	delayedLogin         = "login_delayed"     // a login attempt waited out its penalty (loginpenalty.go)
	refusedUserConns     = "user_conn_limit"   // a login over MaxConnsPerUser (userlimits.go)
	refusedUserAddrConns = "userip_conn_limit" // a login over MaxConnsPerUserAddr
)

// GuardMetrics counts connections and logins refused by the per-address
// and per-user limits, and login attempts delayed by the failed-login
// penalty. A nil *GuardMetrics counts nothing.
type GuardMetrics struct {
	refused *prometheus.CounterVec
}

// NewGuardMetrics returns fresh counters; register Collectors() with a
// registry.
func NewGuardMetrics() *GuardMetrics {
	m := &GuardMetrics{refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "refused_total",
		Help: "Connections and logins refused by a limit, and login attempts delayed after failed logins, by reason.",
	}, []string{"reason"})}
	for _, r := range []string{refusedPreAuthLimit, delayedLogin, refusedUserConns, refusedUserAddrConns} {
		m.refused.WithLabelValues(r)
	}
	return m
}

// Collectors returns the counters, for prometheus.Registerer.MustRegister.
func (m *GuardMetrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.refused}
}

func (m *GuardMetrics) refuse(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}
