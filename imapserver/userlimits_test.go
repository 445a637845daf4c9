package imapserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestUserConnectionLimits: logins over the
// per-user+address and per-user connection limits get NO [UNAVAILABLE]
// (Dovecot's answer to mail_max_userip_connections), other users are not
// affected, and a closed connection frees its place.
func TestUserConnectionLimits(t *testing.T) {
	gm := imapserver.NewGuardMetrics()
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.MaxConnsPerUserAddr = 2
		cfg.Limits.MaxConnsPerUser = 3
		cfg.GuardMetrics = gm
	}))
	loginFrom := func(ip, user, pw string) (*testserver.Client, string) {
		c := srv.DialFrom(t, ip)
		lines := c.Cmd(fmt.Sprintf("a1 LOGIN %s %q", user, pw))
		return c, strings.TrimPrefix(lines[len(lines)-1], "a1 ")
	}
	const userIP = "NO [UNAVAILABLE] Maximum number of connections from user+IP exceeded (max_connections_per_user_addr=2)"
	const perUser = "NO [UNAVAILABLE] Maximum number of connections for user exceeded (max_connections_per_user=3)"
	tests := []struct {
		ip, user, want string
	}{
		{"127.0.0.1", "alice", "OK"},
		{"127.0.0.1", "ALICE", "OK"}, // one user however spelt
		{"127.0.0.1", "alice", userIP},
		{"127.0.0.2", "alice", "OK"},
		{"127.0.0.3", "alice", perUser},
		{"127.0.0.1", "bob", "OK"},
		{"127.0.0.1", "bob", "OK"},
	}
	var first *testserver.Client
	for i, tt := range tests {
		pw := map[string]string{"alice": "alice-secret", "bob": "bob-secret"}[strings.ToLower(tt.user)]
		c, got := loginFrom(tt.ip, tt.user, pw)
		if !strings.HasPrefix(got, tt.want) {
			t.Fatalf("login %d (%s from %s): %q, want %q", i, tt.user, tt.ip, got, tt.want)
		}
		if i == 0 {
			first = c
		}
		if tt.want != "OK" {
			// The refused connection stays usable, not logged in.
			c.Run("C: a2 NOOP\nS: a2 OK NOOP completed")
		}
	}
	if n := refusedCount(t, gm, "userip_conn_limit"); n != 1 {
		t.Errorf("refused_total{userip_conn_limit} = %d, want 1", n)
	}
	if n := refusedCount(t, gm, "user_conn_limit"); n != 1 {
		t.Errorf("refused_total{user_conn_limit} = %d, want 1", n)
	}
	// Logging out frees a place, once the server has closed the session.
	first.Cmd("a9 LOGOUT")
	first.ExpectClosed()
	testserver.WaitFor(t, "a login after a LOGOUT is OK", func() bool {
		_, got := loginFrom("127.0.0.1", "alice", "alice-secret")
		return strings.HasPrefix(got, "OK")
	})
}

// TestMailboxLimit: CREATE past the per-user mailbox
// limit gets NO [LIMIT], counting the parents a CREATE would add; DELETE
// makes room again.
func TestMailboxLimit(t *testing.T) {
	var srv *testserver.Server
	const extra = 3 // mailboxes allowed beyond the new user's defaults
	srv = testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.MaxMailboxesPerUser = 1 << 20 // set below, once the defaults are known
	}))
	c := srv.Login(t, srv.Alice)
	u, err := srv.Store.User(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	list, err := u.Mailboxes(context.Background())
	u.Close()
	if err != nil {
		t.Fatal(err)
	}
	c.Cmd("a0 LOGOUT")

	srv = testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.MaxMailboxesPerUser = len(list) + extra
	}))
	limitNO := fmt.Sprintf("NO [LIMIT] Too many mailboxes (max_mailboxes_per_user=%d)", len(list)+extra)
	c = srv.Login(t, srv.Alice)
	c.Run(fmt.Sprintf(`
C: a1 CREATE one
S~ a1 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: a2 CREATE two/three/four
S: a2 %[1]s
C: a3 CREATE two/three
S~ a3 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: a4 CREATE five
S: a4 %[1]s
C: a5 CREATE two/six
S: a5 %[1]s
C: a6 DELETE one
S: a6 OK DELETE completed
C: a7 CREATE five
S~ a7 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
`, limitNO))
}
