package imapserver

import (
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// addrKey is the key under which a client address is limited: its IP, or
// for IPv6 its /64, which one subscriber usually holds whole.
func addrKey(a net.Addr) string {
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
	byAddr map[string]int
}

func newPreAuthLimiter(max int) *preAuthLimiter {
	return &preAuthLimiter{max: max, byAddr: make(map[string]int)}
}

// acquire counts one more unauthenticated connection from key; false when
// key already has the maximum.
func (l *preAuthLimiter) acquire(key string) bool {
	if l.max <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byAddr[key] >= l.max {
		return false
	}
	l.byAddr[key]++
	return true
}

// release undoes one acquire.
func (l *preAuthLimiter) release(key string) {
	if l.max <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.byAddr[key]; n > 1 {
		l.byAddr[key] = n - 1
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
	if !c.srv.preAuth.acquire(c.addrKey) {
		c.srv.cfg.GuardMetrics.refuse(refusedPreAuthLimit)
		c.log.Warn("too many unauthenticated connections", "remote", c.addrKey)
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
