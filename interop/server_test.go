package interop

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// server is what an interop test needs of a running Dormouse: where to
// connect, one account, and a way to deliver mail outside IMAP.
type server struct {
	addr       string
	host, port string
	user, pass string
	// deliver drops a message into the account's INBOX the way an MDA
	// does (tmp/ then new/), so that the server learns of it from the
	// file system, not from an IMAP session.
	deliver func(t *testing.T, msg string)
	metrics *imapserver.Metrics
}

// startServer starts a fresh Dormouse for one test; it stops when the test
// ends.
func startServer(t *testing.T, opts ...testserver.Option) *server {
	t.Helper()
	srv := testserver.Start(t, opts...)
	host, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return &server{
		addr: srv.Addr,
		host: host,
		port: port,
		user: srv.Alice.Name,
		pass: srv.Alice.Password,
		deliver: func(t *testing.T, msg string) {
			t.Helper()
			srv.Deliver(t, srv.Alice.Name, msg)
		},
		metrics: srv.Metrics,
	}
}

// hibernating makes a server hibernate IDLE connections after 1 ms, so
// that a real client's IDLE is served by a sleeper.
var hibernating = testserver.WithConfig(func(c *imapserver.Config) { c.HibernateAfter = time.Millisecond })

// metric returns the series key of the server's metrics, named as
// testserver.Gather names it.
func (s *server) metric(t *testing.T, key string) float64 {
	t.Helper()
	return testserver.Gather(t, s.metrics)[key]
}

// waitHibernated waits until n connections are hibernated.
func (s *server) waitHibernated(t *testing.T, n float64) {
	t.Helper()
	testserver.WaitMetric(t, s.metrics, "dormouse_imap_connections,state=hibernated", n)
}

// keptTLSConn returns the TLS sleepers that kept their whole tls.Conn,
// by reason (none when every TLS 1.3 sleeper kept its record state
// alone); a server that does not count them (every TLS sleeper keeps
// its tls.Conn there) fails the test.
func keptTLSConn(t *testing.T, s *server) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	counted := false
	for k, v := range testserver.Gather(t, s.metrics) {
		if r, ok := strings.CutPrefix(k, "dormouse_imap_hibernation_tls_kept_conn_total,reason="); ok {
			counted = true
			if v > 0 {
				out[r] = v
			}
		}
	}
	if !counted {
		t.Fatal("the server does not count TLS sleepers that keep their tls.Conn")
	}
	return out
}
