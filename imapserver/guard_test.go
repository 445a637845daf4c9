package imapserver_test

import (
	"bufio"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

const preAuthBye = "* BYE [UNAVAILABLE] Too many connections from your address; try again later"

// guarded starts a server whose pre-auth limit per address is max, with
// its refusals counted in the returned metrics.
func guarded(t *testing.T, max int) (*testserver.Server, *imapserver.GuardMetrics) {
	t.Helper()
	gm := imapserver.NewGuardMetrics()
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.MaxPreAuthPerAddr = max
		cfg.GuardMetrics = gm
	}))
	return srv, gm
}

// refusedCount reads dormouse_imap_refused_total{reason} from gm.
func refusedCount(t *testing.T, gm *imapserver.GuardMetrics, reason string) int {
	t.Helper()
	n, ok := testserver.Gather(t, gm)["dormouse_imap_refused_total,reason="+reason]
	if !ok {
		t.Fatalf("no refused_total{reason=%q}", reason)
	}
	return int(n)
}

// TestPreAuthLimit: with a limit of 4 unauthenticated connections from one
// address, the fifth and later get "* BYE [UNAVAILABLE]" and are closed;
// connections that log in stop counting, so new ones are admitted again,
// and a refused address is not locked out once its connections close.
func TestPreAuthLimit(t *testing.T) {
	const limit, extra = 4, 3
	srv, gm := guarded(t, limit)
	var held []*testserver.Client
	for range limit {
		c := srv.Dial(t)
		if !strings.HasPrefix(c.Greeting, "* OK") {
			t.Fatalf("connection within the limit: greeting %q", c.Greeting)
		}
		held = append(held, c)
	}
	for range extra {
		c := srv.Dial(t)
		if c.Greeting != preAuthBye {
			t.Fatalf("connection over the limit: greeting %q, want %q", c.Greeting, preAuthBye)
		}
		if got := c.ExpectClosed(); len(got) != 0 {
			t.Fatalf("after the BYE: %q", got)
		}
	}
	if n := refusedCount(t, gm, "preauth_addr_limit"); n != extra {
		t.Fatalf("refused_total{preauth_addr_limit} = %d, want %d", n, extra)
	}
	// Those already admitted still work.
	held[0].Run(`
C: a1 CAPABILITY
S~ \* CAPABILITY .*
S: a1 OK CAPABILITY completed
`)
	// Two log in: two places free up, and only two.
	for _, c := range held[:2] {
		c.Run(`
C: a1 LOGIN alice alice-secret
S~ a1 OK .*
`)
	}
	for range 2 {
		if c := srv.Dial(t); !strings.HasPrefix(c.Greeting, "* OK") {
			t.Fatalf("after logins freed places: greeting %q", c.Greeting)
		}
	}
	if c := srv.Dial(t); c.Greeting != preAuthBye {
		t.Fatalf("limit reached again: greeting %q", c.Greeting)
	}
	// A logged-out or dropped unauthenticated connection frees its place.
	held[2].Run(`
C: a1 LOGOUT
S~ \* BYE .*
S~ a1 OK .*
`)
	waitAdmitted(t, srv)
}

// waitAdmitted dials until a connection is admitted: the server frees a
// place when it has seen the close, a moment after the client.
func waitAdmitted(t *testing.T, srv *testserver.Server) {
	t.Helper()
	testserver.WaitFor(t, "a connection is admitted after a place was freed", func() bool {
		c := srv.Dial(t)
		c.NetConn().Close()
		return strings.HasPrefix(c.Greeting, "* OK")
	})
}

// TestPreAuthFlood is "10,000 unauthenticated connections from one address
// are bounded": 10,000 connections, one after another, against the
// default limit of 256 (client and server ends share this process and its
// 20,000 open files; a refused client closes its end, so at most the 256
// admitted stay open). Exactly 256 are admitted, the rest are
// refused and closed by the server, and the server's goroutines and heap
// stay within what 256 sessions need.
func TestPreAuthFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 connections")
	}
	const conns, limit = 10000, imapserver.DefaultMaxPreAuthPerAddr
	srv, gm := guarded(t, 0) // 0: the default
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goBefore := runtime.NumGoroutine()

	var admitted, refused int
	var open []net.Conn
	t.Cleanup(func() {
		for _, nc := range open {
			nc.Close()
		}
	})
	for i := range conns {
		nc, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		open = append(open, nc)
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		g, err := bufio.NewReader(nc).ReadString('\n')
		if err != nil {
			t.Fatalf("greeting %d: %v", i, err)
		}
		switch g = strings.TrimRight(g, "\r\n"); {
		case strings.HasPrefix(g, "* OK"):
			admitted++
		case g == preAuthBye:
			refused++
			nc.Close() // the server closes its end; ours is not needed
		default:
			t.Fatalf("greeting %d: %q", i, g)
		}
	}
	t.Logf("%d connections: %d admitted, %d refused", conns, admitted, refused)
	if admitted != limit || refused != conns-limit {
		t.Fatalf("admitted %d, refused %d; want %d and %d", admitted, refused, limit, conns-limit)
	}
	if n := refusedCount(t, gm, "preauth_addr_limit"); n != refused {
		t.Fatalf("refused_total{preauth_addr_limit} = %d, want %d", n, refused)
	}
	// Refused connections leave nothing behind: the goroutines are those
	// of the admitted sessions (a few each), not of all 10,000.
	var goAfter int
	testserver.Eventually(testserver.Patience, func() bool {
		goAfter = runtime.NumGoroutine()
		return goAfter-goBefore <= 2*limit
	})
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heapGrowth := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("goroutines %d -> %d; heap in use %+d KiB", goBefore, goAfter, heapGrowth>>10)
	if goAfter-goBefore > 2*limit {
		t.Errorf("goroutines grew by %d for %d admitted connections", goAfter-goBefore, limit)
	}
	// 256 sessions with their buffers take a few MiB; 10,000 would take far
	// more. The bound is loose so that it fails only when refused
	// connections are kept.
	if heapGrowth > 32<<20 {
		t.Errorf("heap in use grew by %d MiB", heapGrowth>>20)
	}
}
