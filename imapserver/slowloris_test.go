package imapserver_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// trickle writes s one piece every gap, as a slowloris client does, until
// it is all sent or a write fails (the server has closed the connection).
// The pieces are single bytes, or whole lines with lines set.
func trickle(c *testserver.Client, s string, lines bool, gap time.Duration) {
	pieces := strings.Split(s, "")
	if lines {
		pieces = strings.SplitAfter(s, "\n")
	}
	go func() {
		for _, p := range pieces {
			c.NetConn().SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.NetConn().Write([]byte(p)); err != nil {
				return
			}
			time.Sleep(gap)
		}
	}()
}

// TestSlowloris: a client that sends a byte every 100 ms is cut off by
// LoginTimeout before logging in (even if it completes a command now and
// then, a NOOP every 100 ms) and by CommandTimeout in the middle of a command line or an APPEND
// literal after logging in, long before it would have finished, and the
// half-sent APPEND stores nothing.
func TestSlowloris(t *testing.T) {
	const (
		loginTimeout   = 500 * time.Millisecond
		commandTimeout = 700 * time.Millisecond
		gap            = 100 * time.Millisecond
	)
	msg := testMessage(1) // about 200 bytes: 20 s at this pace
	tests := []struct {
		name    string
		login   bool
		prelude string // sent at full speed, answered by a "+"
		slow    string // trickled
		lines   bool   // trickle whole lines, not bytes
		timeout time.Duration
		bye     string
	}{{
		name: "pre-auth command line", slow: "a1 LOGIN alice alice-secret\r\n",
		timeout: loginTimeout, bye: "* BYE Command not completed in time",
	}, {
		name: "pre-auth whole commands", slow: strings.Repeat("n NOOP\r\n", 40), lines: true,
		timeout: loginTimeout, bye: "* BYE Autologout; idle for too long",
	}, {
		name: "pre-auth literal", prelude: "a1 LOGIN {5}", slow: "alice \"a-password-long-enough-to-take-seconds\"\r\n",
		timeout: loginTimeout, bye: "* BYE Command not completed in time",
	}, {
		name: "command line", login: true, slow: "a2 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)\r\n",
		timeout: commandTimeout, bye: "* BYE Command not completed in time",
	}, {
		name: "APPEND literal", login: true, prelude: fmt.Sprintf("a2 APPEND INBOX {%d}", len(msg)), slow: msg + "\r\n",
		timeout: commandTimeout, bye: "* BYE Command not completed in time",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
				cfg.Limits.LoginTimeout = loginTimeout
				cfg.Limits.CommandTimeout = commandTimeout
				cfg.Limits.IdleTimeout = time.Hour
			}))
			var c *testserver.Client
			if tt.login {
				c = srv.Login(t, srv.Alice)
			} else {
				c = srv.Dial(t)
			}
			start := time.Now()
			if tt.prelude != "" {
				c.Send(tt.prelude)
				if l := c.ReadLine(); !strings.HasPrefix(l, "+") {
					t.Fatalf("prelude: %q", l)
				}
			}
			trickle(c, tt.slow, tt.lines, gap)
			got := c.ExpectClosed()
			took := time.Since(start)
			// Whatever the server answered on the way (NOOP OKs), it ends
			// with the BYE.
			if len(got) == 0 || got[len(got)-1] != tt.bye {
				t.Fatalf("server sent %q, want it to end with %q", got, tt.bye)
			}
			full := time.Duration(len(tt.slow)) * gap
			if tt.lines {
				full = time.Duration(strings.Count(tt.slow, "\n")) * gap
			}
			t.Logf("cut off after %v (timeout %v; the client needed %v)", took.Round(time.Millisecond), tt.timeout, full)
			if took < tt.timeout-50*time.Millisecond {
				t.Fatalf("cut off after %v, before the timeout of %v", took, tt.timeout)
			}
			if took > full/2 {
				t.Fatalf("cut off after %v: the trickle (%v) nearly finished", took, full)
			}
			// Nothing half-sent was stored, and the server still serves.
			c2 := srv.Login(t, srv.Alice)
			c2.Run(`
C: s1 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 0)
S: s1 OK STATUS completed
`)
		})
	}
}
