package imapserver_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestNewMailDuringBodyFetch: Thunderbird ignores an EXISTS that comes
// while it fetches message bodies, then goes back to IDLE; the delivery
// must reach it at that IDLE, not at its next keepalive answer. The
// client here does what Thunderbird does: it drops EXISTS and RECENT
// during `UID fetch n (UID RFC822.SIZE BODY.PEEK[])`, then IDLEs and
// must hear `* 3 EXISTS` at once (the keepalive is minutes away). A
// FETCH of flags only, whose EXISTS the client hears, is not followed
// by a repeat. Awake, and hibernated between the commands (the IDLE
// answered asleep).
func TestNewMailDuringBodyFetch(t *testing.T) {
	for _, after := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprintf("hibernate_after=%v", after), func(t *testing.T) {
			srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
				c.HibernateAfter = after
				c.IdleKeepalive = 10 * time.Minute
			}))
			asleep := func() {
				if after > 0 {
					testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 2)
				}
			}
			fill(t, srv, "INBOX", 2)
			// An observer in IDLE tells the test when the store has
			// seen a delivery (a file renamed into new/, as an MDA
			// delivers).
			obs := srv.Login(t, srv.Alice)
			obs.Cmd("o1 EXAMINE INBOX")
			obs.Send("o2 IDLE")
			obs.Expect("S: + idling")
			deliver := func(n int) {
				srv.Deliver(t, "alice", testMessage(n))
				obs.Expect(fmt.Sprintf("S: * %d EXISTS", n))
				obs.Expect("S: * 0 RECENT")
			}
			tb := srv.Login(t, srv.Alice)
			tb.Cmd("50 SELECT INBOX")
			asleep()
			deliver(3)
			// The body FETCH: the EXISTS comes, and is ignored.
			heard := ignoringExists(tb, "51", "51 UID fetch 2 (UID RFC822.SIZE BODY.PEEK[])")
			if !heard {
				t.Fatal("no EXISTS during the body FETCH: the scenario did not happen")
			}
			asleep()
			tb.Run(`
C: 52 IDLE
S: + idling
S: * 3 EXISTS
C: DONE
S: 52 OK IDLE terminated
`)
			// Flags only: the client hears the EXISTS; no repeat.
			deliver(4)
			asleep()
			tb.Run(`
C: 53 UID FETCH 1:* (FLAGS)
S: * 4 EXISTS
S: * 4 RECENT
S: * 1 FETCH (UID 1 FLAGS (\Recent))
S: * 2 FETCH (UID 2 FLAGS (\Recent))
S: * 3 FETCH (UID 3 FLAGS (\Recent))
S: * 4 FETCH (UID 4 FLAGS (\Recent))
S: 53 OK UID FETCH completed
`)
			asleep()
			tb.Run(`
C: 54 IDLE
S: + idling
C: DONE
S: 54 OK IDLE terminated
`)
		})
	}
}

// ignoringExists sends line and reads to tag's response as Thunderbird
// reads a body FETCH: EXISTS and RECENT are dropped. It reports whether
// an EXISTS came.
func ignoringExists(c *testserver.Client, tag, line string) (heard bool) {
	c.Send(line)
	for {
		r := c.ReadLine()
		if strings.HasPrefix(r, tag+" ") {
			return heard
		}
		heard = heard || strings.HasSuffix(r, " EXISTS")
	}
}
