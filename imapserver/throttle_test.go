package imapserver_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

const throttledNO = "NO [UNAVAILABLE] Too many failed logins; try again later"

// login sends LOGIN on a fresh connection and returns the tagged reply
// without its tag.
func login(t *testing.T, srv *testserver.Server, user, password string) string {
	t.Helper()
	c := srv.Dial(t)
	defer c.Conn().Close()
	lines := c.Cmd(fmt.Sprintf("a1 LOGIN %q %q", user, password))
	return strings.TrimPrefix(lines[len(lines)-1], "a1 ")
}

// TestLoginThrottle: once an address or a user name has used up its
// failed logins, further LOGINs are refused with NO [UNAVAILABLE] before
// the password is checked (so the right password is refused too), each
// refusal is counted by reason, and one attempt comes back per refill.
func TestLoginThrottle(t *testing.T) {
	const refill = 4 * time.Second
	tests := []struct {
		name            string
		perAddr, perUsr int
		// failAs returns the user name of the i-th failed attempt.
		failAs   func(i int) string
		failures int // attempts that may fail before the limit
		reason   string
		// other is a login that the limit must not touch; "" for none.
		other testserver.User
	}{{
		name: "per user", perAddr: 100, perUsr: 3,
		failAs:   func(int) string { return "alice" },
		failures: 3, reason: "login_throttled_user",
		other: testserver.User{Name: "bob", Password: "bob-secret"},
	}, {
		name: "per address", perAddr: 5, perUsr: 100,
		failAs:   func(i int) string { return fmt.Sprintf("guess%d", i) },
		failures: 5, reason: "login_throttled_addr",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gm := imapserver.NewGuardMetrics()
			srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
				cfg.Limits.LoginFailuresPerAddr = tt.perAddr
				cfg.Limits.LoginFailuresPerUser = tt.perUsr
				cfg.Limits.LoginFailureRefill = refill
				cfg.Limits.FailedLoginDelay = -1
				cfg.GuardMetrics = gm
			}))
			start := time.Now()
			var lastFailure time.Time
			for i := range tt.failures {
				if got := login(t, srv, tt.failAs(i), "wrong"); !strings.HasPrefix(got, "NO [AUTHENTICATIONFAILED]") {
					t.Fatalf("failure %d: %q", i+1, got)
				}
				// After the reply: the server took its token before.
				lastFailure = time.Now()
			}
			// Throttled now: a wrong password and the right one alike.
			if got := login(t, srv, tt.failAs(tt.failures), "wrong"); got != throttledNO {
				t.Fatalf("one failure too many: %q, want %q", got, throttledNO)
			}
			if got := login(t, srv, "alice", "alice-secret"); got != throttledNO {
				t.Fatalf("right password while throttled: %q, want %q", got, throttledNO)
			}
			if time.Since(start) >= refill {
				t.Skip("too slow to tell throttling from refill on this machine")
			}
			if n := refusedCount(t, gm, tt.reason); n != 2 {
				t.Fatalf("refused_total{%s} = %d, want 2", tt.reason, n)
			}
			if tt.other.Name != "" {
				if got := login(t, srv, tt.other.Name, tt.other.Password); !strings.HasPrefix(got, "OK") {
					t.Fatalf("other user throttled too: %q", got)
				}
			}
			// One failure is forgiven per refill: the right password gets
			// in, and then one more wrong one is allowed, not two.
			// Just over one token back; the three logins below take far
			// less than a refill even on a loaded machine (a hash takes
			// up to half a second there).
			time.Sleep(time.Until(lastFailure.Add(refill + refill/20)))
			if got := login(t, srv, "alice", "alice-secret"); !strings.HasPrefix(got, "OK") {
				t.Fatalf("after a refill: %q", got)
			}
			if got := login(t, srv, tt.failAs(0), "wrong"); !strings.HasPrefix(got, "NO [AUTHENTICATIONFAILED]") {
				t.Fatalf("first failure after a refill: %q", got)
			}
			// Tokens come back at a steady rate from the first failure:
			// past two refills since then (slow hashing, -race), a second
			// one is due and the check below cannot tell.
			if time.Since(start) >= 2*refill {
				t.Skip("too slow to tell one refill from two on this machine")
			}
			if got := login(t, srv, tt.failAs(0), "wrong"); got != throttledNO {
				t.Fatalf("second failure after one refill: %q", got)
			}
		})
	}
}
