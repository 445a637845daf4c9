package imapserver_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// inIdleModes runs test on a server with hibernation off and on one where
// it is an hour away, so that the whole test runs in the wait before it;
// configure, if not nil, sets more of both servers' configuration.
func inIdleModes(t *testing.T, configure func(*imapserver.Config), test func(*testing.T, *testserver.Server)) {
	for _, mode := range []struct {
		name           string
		hibernateAfter time.Duration
	}{
		{"hibernation off", 0},
		{"waiting to hibernate", time.Hour},
	} {
		t.Run(mode.name, func(t *testing.T) {
			test(t, testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
				cfg.HibernateAfter = mode.hibernateAfter
				if configure != nil {
					configure(cfg)
				}
			})))
		})
	}
}

// TestIdleHearsChanges checks that an idling client hears another
// session's APPEND, STORE and EXPUNGE and an external delivery promptly.
func TestIdleHearsChanges(t *testing.T) { inIdleModes(t, nil, testIdleHearsChanges) }

func testIdleHearsChanges(t *testing.T, srv *testserver.Server) {
	fill(t, srv, "INBOX", 2)
	a := srv.Login(t, srv.Alice)
	a.Run(`
C: a0 ENABLE IMAP4rev2
S: * ENABLED IMAP4rev2
S: a0 OK ENABLE completed
`)
	a.Cmd("s1 SELECT INBOX")
	b := selectInbox(t, srv)

	a.Run(`
C: a1 IDLE
S: + idling
`)
	a.Timeout = 2 * time.Second // "promptly": well under Dovecot's 0.5 s batching plus slack

	start := time.Now()
	appendMsg(t, b, "INBOX", "", testMessage(3))
	a.Expect("S: * 3 EXISTS")
	t.Logf("APPEND reached the idler in %v", time.Since(start))

	start = time.Now()
	b.Cmd(`b1 STORE 1 +FLAGS (\Answered)`)
	a.Expect(`S: * 1 FETCH (UID 1 FLAGS (\Answered))`)
	t.Logf("STORE reached the idler in %v", time.Since(start))

	start = time.Now()
	b.Cmd(`b2 STORE 2 +FLAGS.SILENT (\Deleted)`)
	a.Expect(`S: * 2 FETCH (UID 2 FLAGS (\Deleted))`)
	b.Cmd(`b3 EXPUNGE`)
	a.Expect(`S: * 2 EXPUNGE`)
	t.Logf("EXPUNGE reached the idler in %v", time.Since(start))

	start = time.Now()
	srv.Deliver(t, "alice", testMessage(4))
	a.Expect("S: * 3 EXISTS")
	t.Logf("delivery reached the idler in %v", time.Since(start))

	a.Run(`
C: DONE
S: a1 OK IDLE terminated
C: a2 FETCH 3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])
S: * 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {20}\r\nSubject: Hello 4\r\n\r\n)
S: a2 OK FETCH completed
C: a3 IDLE
S: + idling
C: done
S: a3 OK IDLE terminated
C: a4 IDLE
S: + idling
C: NOPE
S: a4 BAD Expected DONE
C: a5 NOOP
S: a5 OK NOOP completed
`)
}

func TestIdleKeepalive(t *testing.T) {
	inIdleModes(t, func(cfg *imapserver.Config) {
		cfg.IdleKeepalive = 50 * time.Millisecond
	}, func(t *testing.T, srv *testserver.Server) {
		a := srv.Login(t, srv.Alice)
		a.Run(`
C: a1 IDLE
S: + idling
S: * OK Still here
S: * OK Still here
C: DONE
S: a1 OK IDLE terminated
`)
	})
}

// TestIdleGoroutines checks that IDLE adds no goroutine to a session
// until the client speaks, with or without hibernation to come.
func TestIdleGoroutines(t *testing.T) {
	const conns = 20
	inIdleModes(t, nil, func(t *testing.T, srv *testserver.Server) {
		var clients []*testserver.Client
		for range conns {
			c := srv.Login(t, srv.Alice)
			c.Cmd("s SELECT INBOX")
			clients = append(clients, c)
		}
		before := runtime.NumGoroutine()
		for _, c := range clients {
			c.Run("C: i IDLE\nS: + idling\n")
		}
		// "+ idling" is written before the wait begins: wait until
		// every session counts as idling, the step before its wait.
		testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=idling", conns)
		// Other goroutines may come and go (the store's timers):
		// allow a few, far fewer than one per connection.
		if grew := runtime.NumGoroutine() - before; grew > conns/4 {
			t.Fatalf("%d connections entering IDLE added %d goroutines, want none", conns, grew)
		}
		for _, c := range clients {
			c.Run("C: DONE\nS: i OK IDLE terminated\n")
		}
	})
}

// TestShutdown checks that Shutdown says BYE to an idling client and to
// one between commands, and closes both.
func TestShutdown(t *testing.T) { inIdleModes(t, nil, testShutdown) }

func testShutdown(t *testing.T, srv *testserver.Server) {
	a := srv.Login(t, srv.Alice)
	a.Run(`
C: a1 IDLE
S: + idling
`)
	b := srv.Login(t, srv.Bob)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.IMAP.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range []*testserver.Client{a, b} {
		lines := c.ExpectClosed()
		if len(lines) != 1 || lines[0] != "* BYE Server shutting down" {
			t.Fatalf("got %q", lines)
		}
	}
}
