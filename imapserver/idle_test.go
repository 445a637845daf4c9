package imapserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestIdleHearsChanges checks that an idling client hears another
// session's APPEND, STORE and EXPUNGE and an external delivery promptly.
func TestIdleHearsChanges(t *testing.T) {
	srv := testserver.Start(t)
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
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.IdleKeepalive = 50 * time.Millisecond
	}))
	a := srv.Login(t, srv.Alice)
	a.Run(`
C: a1 IDLE
S: + idling
S: * OK Still here
S: * OK Still here
`)
}

// TestShutdown checks that Shutdown says BYE to an idling client and to
// one between commands, and closes both.
func TestShutdown(t *testing.T) {
	srv := testserver.Start(t)
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
