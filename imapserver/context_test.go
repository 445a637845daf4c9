package imapserver_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// ctxEnv is a server with alice's INBOX holding three unseen messages
// (UIDs 1-3), q a session of hers that keeps search contexts, and c
// another (IMAP4rev2, INBOX selected) that changes flags and expunges.
type ctxEnv struct {
	srv  *testserver.Server
	q, c *testserver.Client
	f    *testserver.Client // logged in, nothing selected: APPENDs
	// asleep waits for n hibernated sessions (nothing without
	// hibernation).
	asleep func(n float64)
}

// add appends msg to alice's INBOX from f, which claims no \Recent: the
// change is published before f's OK, so q's next command hears of it
// awake or asleep (an external delivery reaches an awake session through
// its watch, at a moment of its own).
func (e *ctxEnv) add(t *testing.T, msg string) {
	t.Helper()
	appendMsg(t, e.f, "INBOX", "", msg)
}

// sized returns a message of about n bytes.
func sized(n int) string {
	return "Subject: sized\r\n\r\n" + strings.Repeat("x", n) + "\r\n"
}

// TestSearchContexts: live search contexts (RFC 5267 4.3), each
// behaviour a transcript, with hibernation off and after 1 ms: the
// client reads the same bytes either way.
func TestSearchContexts(t *testing.T) {
	tests := []struct {
		name string
		rev2 bool // q enables IMAP4rev2 (no \Recent, so no claims to order)
		run  func(t *testing.T, e *ctxEnv)
	}{
		{"ADDTO on delivery, in IDLE", false, func(t *testing.T, e *ctxEnv) {
			e.q.Run(`
C: u UID SEARCH RETURN (UPDATE) UNSEEN
S: * ESEARCH (TAG "u") UID ALL 1:3
S: u OK UID SEARCH completed
C: i IDLE
S: + idling
`)
			e.asleep(3)
			e.srv.Deliver(t, "alice", testMessage(4))
			// RFC 5267 4.3.3: the ADDTO after the EXISTS.
			e.q.Run(`
S: * 4 EXISTS
S: * 4 RECENT
S: * ESEARCH (TAG "u") UID ADDTO (0 4)
C: DONE
S: i OK IDLE terminated
`)
		}},
		{"REMOVEFROM on expunge, by number", false, func(t *testing.T, e *ctxEnv) {
			e.q.Run(`
C: v SEARCH RETURN (UPDATE COUNT) ALL
S: * ESEARCH (TAG "v") COUNT 3
S: v OK SEARCH completed
`)
			e.asleep(3)
			e.c.Cmd(`c1 STORE 2 +FLAGS.SILENT (\Deleted)`)
			e.c.Cmd(`c2 EXPUNGE`)
			e.asleep(3)
			// Not during a FETCH by number (RFC 9051 7.5.1): the
			// REMOVEFROM waits with the EXPUNGE, then goes first, while
			// its number is valid (RFC 5267 4.3.4).
			e.q.Run(`
C: f FETCH 1 (FLAGS)
S: * 2 FETCH (UID 2 FLAGS (\Deleted \Recent))
S: * 1 FETCH (FLAGS (\Recent))
S: f OK FETCH completed
C: n NOOP
S: * ESEARCH (TAG "v") REMOVEFROM (0 2)
S: * 2 EXPUNGE
S: n OK NOOP completed
`)
		}},
		{"UNSEEN kept by STORE, another session's and its own", true, func(t *testing.T, e *ctxEnv) {
			e.q.Run(`
C: u UID SEARCH RETURN (UPDATE) UNSEEN
S: * ESEARCH (TAG "u") UID ALL 1:3
S: u OK UID SEARCH completed
`)
			e.asleep(3)
			e.c.Cmd(`c1 STORE 1:2 +FLAGS.SILENT (\Seen)`)
			e.asleep(3)
			e.q.Run(`
C: n NOOP
S: * 1 FETCH (UID 1 FLAGS (\Seen))
S: * 2 FETCH (UID 2 FLAGS (\Seen))
S: * ESEARCH (TAG "u") UID REMOVEFROM (0 1:2)
S: n OK NOOP completed
`)
			e.asleep(3)
			e.c.Cmd(`c2 STORE 2 -FLAGS.SILENT (\Seen)`)
			e.asleep(3)
			e.q.Run(`
C: n NOOP
S: * 2 FETCH (UID 2 FLAGS ())
S: * ESEARCH (TAG "u") UID ADDTO (0 2)
S: n OK NOOP completed
C: s STORE 3 +FLAGS (\Seen)
S: * 3 FETCH (FLAGS (\Seen))
S: s OK STORE completed
C: n NOOP
S: * ESEARCH (TAG "u") UID REMOVEFROM (0 3)
S: n OK NOOP completed
`)
		}},
		{"CANCELUPDATE and tags", true, func(t *testing.T, e *ctxEnv) {
			e.q.Run(`
C: u UID SEARCH RETURN (UPDATE) UNSEEN
S: * ESEARCH (TAG "u") UID ALL 1:3
S: u OK UID SEARCH completed
C: u UID SEARCH RETURN (UPDATE) SEEN
S: u BAD Tag reuse: a search context has this tag (RFC 5267 4.3)
C: u UID SEARCH RETURN (COUNT) SEEN
S: * ESEARCH (TAG "u") UID COUNT 0
S: u OK UID SEARCH completed
C: x CANCELUPDATE "u" "none"
S: x NO No search context has the tag none
C: x CANCELUPDATE "u"
S: x OK CANCELUPDATE completed
C: y CANCELUPDATE "u"
S: y NO No search context has the tag u
C: z CANCELUPDATE u
S: z BAD CANCELUPDATE takes quoted tags
`)
			e.asleep(3)
			e.add(t, testMessage(4))
			e.c.Cmd(`c1 STORE 1 +FLAGS.SILENT (\Seen)`)
			e.asleep(3)
			e.q.Run(`
C: n NOOP
S: * 4 EXISTS
S: * 1 FETCH (UID 1 FLAGS (\Seen))
S: n OK NOOP completed
C: u UID SEARCH RETURN (UPDATE) UNSEEN
S: * ESEARCH (TAG "u") UID ALL 2:4
S: u OK UID SEARCH completed
`)
		}},
		{"limits and NOUPDATE", true, func(t *testing.T, e *ctxEnv) {
			var script strings.Builder
			for i := 1; i <= 9; i++ {
				fmt.Fprintf(&script, "C: k%d UID SEARCH RETURN (UPDATE COUNT) ALL\nS: * ESEARCH (TAG \"k%d\") UID COUNT 3\n", i, i)
				if i == 9 {
					// RFC 5267 4.3.1: answered, with an untagged NO.
					script.WriteString("S: * NO [NOUPDATE \"k9\"] Too many search contexts (at most 8)\n")
				}
				fmt.Fprintf(&script, "S: k%d OK UID SEARCH completed\n", i)
			}
			e.q.Run(script.String())
			e.q.Run(`
C: x CANCELUPDATE "k1" "k2" "k3" "k4" "k5" "k6" "k7"
S: x OK CANCELUPDATE completed
C: m SEARCH RETURN (UPDATE) 1:2
S: * ESEARCH (TAG "m") ALL 1:2
S: * NO [NOUPDATE "m"] Message numbers in the criteria change with the mailbox
S: m OK SEARCH completed
C: w UID SEARCH RETURN (UPDATE) UID 2:*
S: * ESEARCH (TAG "w") UID ALL 2:3
S: * NO [NOUPDATE "w"] A UID set with $ or * changes with the mailbox
S: w OK UID SEARCH completed
C: y UID SEARCH RETURN (UPDATE COUNT) YOUNGER 3600
S: * ESEARCH (TAG "y") UID COUNT 3
S: * NO [NOUPDATE "y"] Search key YOUNGER changes with the clock
S: y OK UID SEARCH completed
C: o UID SEARCH RETURN (UPDATE) OR SEEN NOT UID 1,3
S: * ESEARCH (TAG "o") UID ALL 2
S: o OK UID SEARCH completed
`)
			e.asleep(3)
			e.add(t, testMessage(4))
			e.asleep(3)
			// The two live contexts: k8 and o.
			e.q.Run(`
C: n NOOP
S: * 4 EXISTS
S: * ESEARCH (TAG "k8") UID ADDTO (0 4)
S: * ESEARCH (TAG "o") UID ADDTO (0 4)
S: n OK NOOP completed
`)
		}},
		{"sorted contexts with positions", true, func(t *testing.T, e *ctxEnv) {
			e.q.Run(`
C: o UID SORT RETURN (UPDATE) (SIZE) UTF-8 UNSEEN
S: * ESEARCH (TAG "o") UID ALL 1:3
S: o OK UID SORT completed
C: r SORT RETURN (UPDATE MIN) (REVERSE SIZE) UTF-8 ALL
S: * ESEARCH (TAG "r") MIN 1
S: r OK SORT completed
`)
			e.asleep(3)
			e.add(t, sized(2000)) // UID 4, the largest
			e.add(t, sized(1))    // UID 5, the smallest
			e.c.Cmd(`c1 STORE 2 +FLAGS.SILENT (\Seen)`)
			e.asleep(3)
			// Removals first, then additions in the final order, each
			// position valid after the pairs before it (RFC 5267 4.3.2):
			// o: 1,2,3 → 1,3 → 5,1,3 → 5,1,3,4; r (by number): 1,2,3 →
			// 4,1,2,3 → 4,1,2,3,5.
			e.q.Run(`
C: n NOOP
S: * 5 EXISTS
S: * 2 FETCH (UID 2 FLAGS (\Seen))
S: * ESEARCH (TAG "o") UID REMOVEFROM (2 2) ADDTO (1 5 4 4)
S: * ESEARCH (TAG "r") ADDTO (1 4 5 5)
S: n OK NOOP completed
`)
			e.asleep(3)
			e.c.Cmd(`c2 STORE 2 -FLAGS.SILENT (\Seen)`)
			e.c.Cmd(`c3 STORE 1 +FLAGS.SILENT (\Deleted)`)
			e.c.Cmd(`c4 EXPUNGE`)
			e.asleep(3)
			// o: 5,1,3,4 → 5,3,4 → 5,2,3,4; r: 4,1,2,3,5 → 4,2,3,5
			// (numbers after the EXPUNGE: 3,1,2,4).
			e.q.Run(`
C: n NOOP
S: * ESEARCH (TAG "o") UID REMOVEFROM (2 1)
S: * ESEARCH (TAG "r") REMOVEFROM (2 1)
S: * 1 EXPUNGE
S: * 1 FETCH (UID 2 FLAGS ())
S: * ESEARCH (TAG "o") UID ADDTO (2 2)
S: n OK NOOP completed
`)
		}},
		{"criteria and sort keys read from the messages", true, func(t *testing.T, e *ctxEnv) {
			// testMessage(n)'s subject is "Hello n".
			e.q.Run(`
C: h UID SEARCH RETURN (UPDATE) UNSEEN SUBJECT "Hello 2"
S: * ESEARCH (TAG "h") UID ALL 2
S: h OK UID SEARCH completed
C: r UID SORT RETURN (UPDATE) (REVERSE SUBJECT) UTF-8 UNSEEN
S: * ESEARCH (TAG "r") UID ALL 3,2,1
S: r OK UID SORT completed
`)
			e.asleep(3)
			e.add(t, "Subject: Hello 2\r\n\r\nanother\r\n") // UID 4
			e.add(t, "Subject: Aardvark\r\n\r\nlast\r\n")   // UID 5
			e.c.Cmd(`c1 STORE 2 +FLAGS.SILENT (\Seen)`)
			e.asleep(3)
			// r: 3,2,1 → 3,1 → 3,4,1,5 (REVERSE SUBJECT; "Hello 2"
			// ties by UID).
			e.q.Run(`
C: n NOOP
S: * 5 EXISTS
S: * 2 FETCH (UID 2 FLAGS (\Seen))
S: * ESEARCH (TAG "h") UID REMOVEFROM (0 2) ADDTO (0 4)
S: * ESEARCH (TAG "r") UID REMOVEFROM (2 2) ADDTO (2 4 4 5)
S: n OK NOOP completed
`)
			e.asleep(3)
			e.c.Cmd(`c2 STORE 2 -FLAGS.SILENT (\Seen)`)
			e.asleep(3)
			// Back into both: r 3,4,1,5 → 3,2,4,1,5 (2 before 4 among
			// equal subjects).
			e.q.Run(`
C: n NOOP
S: * 2 FETCH (UID 2 FLAGS ())
S: * ESEARCH (TAG "h") UID ADDTO (0 2)
S: * ESEARCH (TAG "r") UID ADDTO (2 2)
S: n OK NOOP completed
`)
		}},
		{"a context sleeps and wakes with changes made meanwhile", false, func(t *testing.T, e *ctxEnv) {
			e.q.Run(`
C: u UID SEARCH RETURN (UPDATE) UNSEEN
S: * ESEARCH (TAG "u") UID ALL 1:3
S: u OK UID SEARCH completed
`)
			e.asleep(3)
			e.add(t, testMessage(4))
			e.c.Cmd(`c1 STORE 1 +FLAGS.SILENT (\Seen)`)
			e.asleep(3)
			// A UID command wakes the quiet sleeper and may be told
			// everything.
			e.q.Run(`
C: f UID FETCH 4 (FLAGS)
S: * 4 EXISTS
S: * 4 RECENT
S: * 1 FETCH (UID 1 FLAGS (\Seen \Recent))
S: * ESEARCH (TAG "u") UID REMOVEFROM (0 1) ADDTO (0 4)
S: * 4 FETCH (UID 4 FLAGS (\Recent))
S: f OK UID FETCH completed
C: i IDLE
S: + idling
`)
			e.asleep(3)
			e.srv.Deliver(t, "alice", testMessage(5))
			e.q.Run(`
S: * 5 EXISTS
S: * 5 RECENT
S: * ESEARCH (TAG "u") UID ADDTO (0 5)
`)
			e.c.Cmd(`c2 STORE 2 +FLAGS.SILENT (\Seen)`)
			e.q.Run(`
S: * 2 FETCH (UID 2 FLAGS (\Seen \Recent))
S: * ESEARCH (TAG "u") UID REMOVEFROM (0 2)
C: DONE
S: i OK IDLE terminated
`)
		}},
		{"contexts end with the mailbox", true, func(t *testing.T, e *ctxEnv) {
			selectAgain := func() {
				if l := e.q.Cmd("s SELECT INBOX"); !strings.HasPrefix(l[len(l)-1], "s OK") {
					t.Fatalf("SELECT: %q", l)
				}
			}
			e.q.Run(`
C: u UID SEARCH RETURN (UPDATE) ALL
S: * ESEARCH (TAG "u") UID ALL 1:3
S: u OK UID SEARCH completed
`)
			selectAgain()
			e.q.Run(`
C: x CANCELUPDATE "u"
S: x NO No search context has the tag u
C: v UID SEARCH RETURN (UPDATE) ALL
S: * ESEARCH (TAG "v") UID ALL 1:3
S: v OK UID SEARCH completed
C: cl CLOSE
S: cl OK CLOSE completed
`)
			selectAgain()
			e.asleep(3)
			e.add(t, testMessage(4))
			e.asleep(3)
			e.q.Run(`
C: n NOOP
S: * 4 EXISTS
S: n OK NOOP completed
C: x CANCELUPDATE "v"
S: x NO No search context has the tag v
`)
		}},
	}
	for _, tt := range tests {
		for _, after := range []time.Duration{0, time.Millisecond} {
			t.Run(fmt.Sprintf("%s/hibernate_after=%v", tt.name, after), func(t *testing.T) {
				srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
					c.HibernateAfter = after
				}))
				fill(t, srv, "INBOX", 3)
				e := &ctxEnv{srv: srv, asleep: func(n float64) {
					if after > 0 {
						testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", n)
					}
				}}
				e.q = srv.Login(t, srv.Alice)
				if tt.rev2 {
					e.q.Cmd("e ENABLE IMAP4rev2")
				}
				e.q.Cmd("s SELECT INBOX")
				e.c = srv.Login(t, srv.Alice)
				e.c.Cmd("c0 ENABLE IMAP4rev2")
				e.c.Cmd("c0 SELECT INBOX")
				e.f = srv.Login(t, srv.Alice)
				tt.run(t, e)
			})
		}
	}
}
