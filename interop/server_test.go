package interop

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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

// metric returns the value of a counter or gauge of the server, summed
// over the label sets that have all of labels (name=value pairs).
func (s *server) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() {
		for _, c := range s.metrics.Collectors() {
			c.Collect(ch)
		}
		close(ch)
	}()
	var sum float64
	for m := range ch {
		if !strings.Contains(m.Desc().String(), `fqName: "`+name+`"`) {
			continue
		}
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		if !hasLabels(&pb, labels) {
			continue
		}
		switch {
		case pb.Counter != nil:
			sum += pb.Counter.GetValue()
		case pb.Gauge != nil:
			sum += pb.Gauge.GetValue()
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// waitHibernated waits until n connections are hibernated.
func (s *server) waitHibernated(t *testing.T, n float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.metric(t, "dormouse_imap_connections", "state", "hibernated") != n {
		if time.Now().After(deadline) {
			t.Fatalf("%v connections hibernated, want %v", s.metric(t, "dormouse_imap_connections", "state", "hibernated"), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
