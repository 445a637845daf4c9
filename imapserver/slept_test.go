package imapserver_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestSleptIsTold: Config.Slept, the daemon's memory policy's seam, hears
// of every connection that hibernates, once each.
func TestSleptIsTold(t *testing.T) {
	var mu sync.Mutex
	var told []time.Time
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
		c.Slept = func(at time.Time) {
			mu.Lock()
			told = append(told, at)
			mu.Unlock()
		}
	}))
	start := time.Now()
	const n = 3
	for range n {
		c := srv.Login(t, srv.Alice)
		c.Cmd("s SELECT INBOX")
		c.Send("i IDLE")
		c.Expect("S: + idling")
	}
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", n)
	// Each session may also have slept between its commands (woken by
	// the next): every hibernation is told, however many there were.
	testserver.WaitFor(t, "Slept told of every hibernation", func() bool {
		slept := testserver.Gather(t, srv.Metrics)["dormouse_imap_hibernations_total"]
		mu.Lock()
		defer mu.Unlock()
		return len(told) == int(slept) && len(told) >= n
	})
	mu.Lock()
	defer mu.Unlock()
	for _, at := range told {
		if at.Before(start) || at.After(time.Now()) {
			t.Fatalf("Slept told of a hibernation at %v, outside the test", at)
		}
	}
}

// TestWakeLatencyMetric: each update written to a sleeper, whether from
// the early announcement or from the committed change, is timed from
// the change's publication in dormouse_imap_wake_seconds.
func TestWakeLatencyMetric(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
	}))
	fill(t, srv, "INBOX", 1)
	c := selectInbox(t, srv)
	c.Send("i IDLE")
	c.Expect("S: + idling")
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	const n = 3
	for i := range n {
		fill(t, srv, "INBOX", 1)
		c.WaitFor(fmt.Sprintf(`^\* %d EXISTS$`, i+2))
	}
	testserver.WaitFor(t, "three updates timed", func() bool {
		got := testserver.Gather(t, srv.Metrics)
		return got["dormouse_imap_wake_seconds_count"] >= n
	})
	got := testserver.Gather(t, srv.Metrics)
	if sum := got["dormouse_imap_wake_seconds_sum"]; sum <= 0 || sum > 60 {
		t.Fatalf("wake latency sum %v s over %v updates", sum, got["dormouse_imap_wake_seconds_count"])
	}
}
