package imapserver_test

import (
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestUnauthenticate: UNAUTHENTICATE (RFC 8437) closes the selected
// mailbox without expunging, forgets what ENABLE turned on, and leaves a
// connection on which only not-authenticated commands work until another
// user logs in; that user sees only their own mail, and the first user's
// connection count is released (max one connection per user here).
func TestUnauthenticate(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) { cfg.Limits.MaxConnsPerUser = 1 }))
	fill(t, srv, "INBOX", 1)
	c := srv.Login(t, srv.Alice)
	caps, _ := cmdResult(c, "c0", "CAPABILITY")
	if !strings.Contains(caps[0], " UNAUTHENTICATE") {
		t.Fatalf("CAPABILITY: %q", caps)
	}
	c.Run(`
C: e1 ENABLE UTF8=ACCEPT
S: * ENABLED UTF8=ACCEPT
S: e1 OK ENABLE completed
`)
	if _, tagged := cmdResult(c, "s1", "SELECT INBOX"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("SELECT: %s", tagged)
	}
	c.Run(`
C: f1 STORE 1 +FLAGS.SILENT (\Deleted)
S: f1 OK STORE completed
C: u1 UNAUTHENTICATE
S: u1 OK UNAUTHENTICATE completed
C: n1 NOOP
S: n1 OK NOOP completed
C: l1 LIST "" *
S: l1 BAD LIST not allowed before authentication
C: u2 UNAUTHENTICATE
S: u2 BAD UNAUTHENTICATE not allowed before authentication
C: e2 ENABLE UTF8=ACCEPT
S: e2 BAD ENABLE not allowed before authentication
`)
	// alice's count was released: she may log in elsewhere.
	other := srv.Login(t, srv.Alice)
	other.Run(`
C: s1 STATUS INBOX (MESSAGES DELETED)
S: * STATUS INBOX (MESSAGES 1 DELETED 1)
S: s1 OK STATUS completed
`)
	c.Run(`
C: a1 LOGIN bob bob-secret
S~ a1 OK \[CAPABILITY .*\] Logged in
C: a2 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 0)
S: a2 OK STATUS completed
C: a3 ENABLE UTF8=ACCEPT
S: * ENABLED UTF8=ACCEPT
S: a3 OK ENABLE completed
`)
}

// TestLogoutReleasesUserCount: under a limit of one connection per user, a
// client that has the tagged OK of its LOGOUT may log in again at once; the
// count is not held until the server has closed the old socket.
func TestLogoutReleasesUserCount(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) { cfg.Limits.MaxConnsPerUser = 1 }))
	for i := 0; i < 200; i++ {
		c := srv.Login(t, srv.Alice)
		if lines := c.Cmd("lo LOGOUT"); !strings.HasPrefix(lines[len(lines)-1], "lo OK") {
			t.Fatalf("LOGOUT %d: %q", i, lines)
		}
	}
}
