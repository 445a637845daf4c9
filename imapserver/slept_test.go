package imapserver_test

import (
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
	mu.Lock()
	defer mu.Unlock()
	if len(told) != n {
		t.Fatalf("Slept told %d times for %d hibernations", len(told), n)
	}
	for _, at := range told {
		if at.Before(start) || at.After(time.Now()) {
			t.Fatalf("Slept told of a hibernation at %v, outside the test", at)
		}
	}
}
