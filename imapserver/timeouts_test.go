package imapserver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestInterruptIsNoAutologout: the read of a session waiting for its
// next command is interrupted by a change to push (NOTIFY) or a
// handover; an interrupt that finds nothing left to do (the change was
// pushed already: the watch signals, then interrupts) must not log the
// session out. Only the idle timeout does (RFC 9051 5.4). Before, such
// an interrupt ended the session with "* BYE Autologout; idle for too
// long" a moment after its last command: TestHibernationDifferentialNotify
// failed so about once in 40 runs under -race. Hibernation off, and on
// (after an hour: the session waits awake).
func TestInterruptIsNoAutologout(t *testing.T) {
	for _, after := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprintf("hibernate_after=%v", after), func(t *testing.T) {
			srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
				c.HibernateAfter = after
			}))
			c := srv.Login(t, srv.Alice)
			mustOK(t, c, "s SELECT INBOX")
			for i := range 3 {
				testserver.WaitFor(t, "the session waits for a command", func() bool {
					return imapserver.InterruptWaiting(srv.IMAP) == 1
				})
				c.ExpectNothing(50 * time.Millisecond)
				mustOK(t, c, fmt.Sprintf("n%d NOOP", i))
			}
		})
	}
}
