package imapserver_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// quietClients are the connections of the quiet differential script:
// sessions that never IDLE (selected read-write, EXAMINE, authenticated
// only) sleep between their commands. One rev1 read-only idler, a, only
// tells the script when an external delivery has landed; it claims no
// \Recent, so q, the one rev1 read-write session, claims every new
// message at its next command, awake or asleep alike.
var quietClients = []hibClient{
	{"q", "alice"}, // IMAP4rev1, SELECT, quiet: claims \Recent
	{"r", "alice"}, // IMAP4rev2 + QRESYNC, EXAMINE, quiet
	{"x", "alice"}, // IMAP4rev1 + CONDSTORE, EXAMINE, quiet
	{"c", "alice"}, // IMAP4rev2, SELECT: flag changes and expunges
	{"f", "alice"}, // authenticated only (APPENDs), later EXAMINE, quiet
	{"a", "alice"}, // IMAP4rev1, EXAMINE, idles
	{"n", "bob"},   // authenticated only: NOOP, LIST, IDLE without a mailbox
}

func quietScript() []hibStep {
	w := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	appendLit := func(tag string, n int) string {
		m := testMessage(n)
		return fmt.Sprintf("%s APPEND INBOX {%d+}\r\n%s\r\n", tag, len(m), m)
	}
	return []hibStep{
		// Quota limits, so that GETQUOTAROOT shows the usage.
		{who: "setquota:alice", send: "10485760 1000"},
		{who: "q", send: "q1 SELECT INBOX\r\n", waitFor: w("q", "q1 ")},
		{who: "r", send: "r1 ENABLE IMAP4rev2 QRESYNC\r\n", waitFor: w("r", "r1 ")},
		{who: "r", send: "r2 EXAMINE INBOX\r\n", waitFor: w("r", "r2 ")},
		{who: "x", send: "x1 ENABLE CONDSTORE\r\n", waitFor: w("x", "x1 ")},
		{who: "x", send: "x2 EXAMINE INBOX\r\n", waitFor: w("x", "x2 ")},
		{who: "c", send: "c1 ENABLE IMAP4rev2\r\n", waitFor: w("c", "c1 ")},
		{who: "c", send: "c2 SELECT INBOX\r\n", waitFor: w("c", "c2 ")},
		{who: "a", send: "a1 EXAMINE INBOX\r\n", waitFor: w("a", "a1 ")},
		{who: "a", send: "a2 IDLE\r\n", waitFor: w("a", "+ idling")},

		// New mail from outside and from another session, a flag change.
		{who: "deliver:alice", send: testMessage(3), waitFor: w("a", "RECENT")},
		{who: "f", send: appendLit("f1", 4), waitFor: w("f", "f1 ", "a", "RECENT")},
		{who: "c", send: "c3 STORE 1 +FLAGS (\\Flagged)\r\n", waitFor: w("c", "c3 ", "a", "FETCH")},
		// A FETCH by sequence number: the flag change told first, no
		// EXISTS after it (RFC 9051 7.5.1 forbids only EXPUNGE, but a
		// refresh applies every change at once).
		{who: "q", send: "q2 FETCH 1:* (FLAGS)\r\n", waitFor: w("q", "q2 ")},
		// NOOP: EXISTS, RECENT (q claims), answered asleep.
		{who: "q", send: "q3 NOOP\r\n", waitFor: w("q", "q3 ")},
		// An expunge from another session.
		{who: "c", send: "c4 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n", waitFor: w("c", "c4 ", "a", "FETCH")},
		{who: "c", send: "c5 EXPUNGE\r\n", waitFor: w("c", "c5 ", "a", "EXPUNGE")},
		// Not during a FETCH by sequence number: the old numbers stay
		// valid, message 2 is still there for q.
		{who: "q", send: "q4 FETCH 2 (FLAGS)\r\n", waitFor: w("q", "q4 ")},
		{who: "q", send: "q5 STORE 3 +FLAGS (\\Seen)\r\n", waitFor: w("q", "q5 ", "a", "FETCH")},
		{who: "q", send: "q6 SEARCH ALL\r\n", waitFor: w("q", "q6 ")},
		// A UID command may be told: EXPUNGE, then its answer.
		{who: "q", send: "q7 UID FETCH 1:* (FLAGS)\r\n", waitFor: w("q", "q7 ")},
		// QRESYNC: VANISHED, with NOOP answered asleep.
		{who: "r", send: "r3 NOOP\r\n", waitFor: w("r", "r3 ")},
		// CONDSTORE, read-only: a FETCH by number, then CHECK.
		{who: "x", send: "x3 FETCH 1:* (FLAGS MODSEQ)\r\n", waitFor: w("x", "x3 ")},
		{who: "x", send: "x4 CHECK\r\n", waitFor: w("x", "x4 ")},
		{who: "c", send: "c6 STORE 1 -FLAGS (\\Flagged)\r\n", waitFor: w("c", "c6 ", "a", "FETCH")},
		{who: "r", send: "r4 SEARCH ALL\r\n", waitFor: w("r", "r4 ")},
		{who: "r", send: "r5 CHECK\r\n", waitFor: w("r", "r5 ")},
		// Authenticated only: NOOP asleep, a command that wakes, IDLE
		// without a mailbox (answered asleep), DONE.
		{who: "n", send: "n1 NOOP\r\n", waitFor: w("n", "n1 ")},
		{who: "n", send: "n2 LIST \"\" *\r\n", waitFor: w("n", "n2 ")},
		{who: "n", send: "n3 CHECK\r\n", waitFor: w("n", "n3 ")},
		{who: "n", send: "n4 IDLE\r\n", waitFor: w("n", "+ idling")},
		{who: "deliver:bob", send: testMessage(5), waitFor: nil},
		{who: "n", send: "DONE\r\n", waitFor: w("n", "n4 ")},
		{who: "n", send: "n5 idle\r\n", waitFor: w("n", "+ idling")},
		{who: "n", send: "DONE\r\nn6 NOOP\r\n", waitFor: w("n", "n6 ")},
		// f selects: quiet and selected from then on.
		{who: "f", send: "f2 NOOP\r\n", waitFor: w("f", "f2 ")},
		{who: "f", send: "f3 EXAMINE INBOX\r\n", waitFor: w("f", "f3 ")},
		{who: "deliver:alice", send: testMessage(6), waitFor: w("a", "RECENT")},
		// An awake session hears of an external delivery through its
		// watch, which may run after a's: a change made by a session,
		// published before its OK, makes the next NOOPs see both in
		// either run.
		{who: "c", send: "c7 STORE 1 +FLAGS (\\Seen)\r\n", waitFor: w("c", "c7 ", "a", "FETCH")},
		{who: "f", send: "f4 NOOP\r\n", waitFor: w("f", "f4 ")},
		{who: "q", send: "q8 CHECK\r\n", waitFor: w("q", "q8 ")},
		// A command pipelined behind another: the first wakes, the
		// second is read by the woken session.
		{who: "x", send: "x5 NOOP\r\nx6 FETCH 1:* (UID FLAGS)\r\n", waitFor: w("x", "x5 \nx6 ")},
		// Thunderbird's keepalive answer, UID FETCH <uidnext>:* (FLAGS)
		// (answered asleep): the last message's flags, after a flag
		// change of it told first (rev1 with \Recent; CONDSTORE with
		// MODSEQ asked for), then again with nothing pending.
		{who: "c", send: "c8 STORE * +FLAGS (\\Answered)\r\n", waitFor: w("c", "c8 ", "a", "FETCH")},
		{who: "q", send: "q10 UID FETCH 99:* (FLAGS)\r\n", waitFor: w("q", "q10 ")},
		{who: "q", send: "q11 UID FETCH 99:* (FLAGS)\r\n", waitFor: w("q", "q11 ")},
		{who: "x", send: "x7 UID FETCH 99:* (FLAGS MODSEQ)\r\n", waitFor: w("x", "x7 ")},
		{who: "x", send: "x8 UID FETCH 2:* (UID FLAGS)\r\n", waitFor: w("x", "x8 ")},
		// Thunderbird's GETQUOTAROOT of the folder (answered asleep),
		// with a flag change told after its answer.
		{who: "c", send: "c9 STORE * -FLAGS (\\Answered)\r\n", waitFor: w("c", "c9 ", "a", "FETCH")},
		{who: "x", send: "x9 GETQUOTAROOT INBOX\r\n", waitFor: w("x", "x9 ")},
		{who: "q", send: "q14 getquotaroot \"INBOX\"\r\n", waitFor: w("q", "q14 ")},
		{who: "r", send: "r6 UID FETCH 99:* (FLAGS)\r\n", waitFor: w("r", "r6 ")},
		// The same answers again with nothing changed: from the
		// mailbox's memo, without the index (hibernate_memo.go); then
		// after a delivery by another program into a folder no session
		// watches, which the quota counts, and new limits.
		{who: "x", send: "x10 GETQUOTAROOT INBOX\r\n", waitFor: w("x", "x10 ")},
		{who: "r", send: "r7 UID FETCH 99:* (FLAGS)\r\n", waitFor: w("r", "r7 ")},
		{who: "r", send: "r8 NOOP\r\n", waitFor: w("r", "r8 ")},
		{who: "r", send: "r10 NOOP\r\n", waitFor: w("r", "r10 ")},
		{who: "deliverto:alice:Trash", send: testMessage(8)},
		{who: "x", send: "x11 GETQUOTAROOT INBOX\r\n", waitFor: w("x", "x11 ")},
		{who: "q", send: "q15 GETQUOTAROOT INBOX\r\n", waitFor: w("q", "q15 ")},
		{who: "setquota:alice", send: "20971520 2000"},
		{who: "x", send: "x12 GETQUOTAROOT INBOX\r\n", waitFor: w("x", "x12 ")},
		// New mail told during a FETCH of bodies is told again at the
		// next IDLE (reannounce.go), answered asleep.
		{who: "deliver:alice", send: testMessage(7), waitFor: w("a", "RECENT")},
		{who: "q", send: "q12 UID FETCH 1 (UID RFC822.SIZE BODY.PEEK[])\r\n", waitFor: w("q", "q12 ")},
		{who: "q", send: "q13 IDLE\r\n", waitFor: w("q", "+ idling\nEXISTS")},
		{who: "q", send: "DONE\r\n", waitFor: w("q", "q13 ")},
		{who: "a", send: "DONE\r\n", waitFor: w("a", "a2 ")},
		{who: "q", send: "q9 FETCH 1:* (UID FLAGS)\r\n", waitFor: w("q", "q9 ")},
		{who: "r", send: "r9 FETCH 1:* (UID FLAGS)\r\n", waitFor: w("r", "r9 ")},
	}
}

// TestHibernationDifferentialQuiet runs quietScript with hibernation off
// and after 1 ms: sessions that never IDLE sleep between commands, and
// what their next command tells them (EXISTS, RECENT, EXPUNGE held back
// during FETCH, STORE and SEARCH by number, VANISHED, FETCH FLAGS) is the
// same byte for byte.
func TestHibernationDifferentialQuiet(t *testing.T) {
	checkQuietDifferential(t, transportPlain)
}

// checkQuietDifferential is TestHibernationDifferentialQuiet over tr.
func checkQuietDifferential(t *testing.T, tr transport) {
	rng := rand.New(rand.NewPCG(3, 4))
	got, _ := compareHibernation(t, tr, quietClients, quietScript, rng, rng, asSent, "q")
	if got["dormouse_imap_hibernated_served_total,kind=command"] < 8 || got["dormouse_imap_wakes_total,cause=client"] < 10 {
		t.Errorf("served asleep %v commands, %v client wakes; want ≥ 8 and ≥ 10: the quiet sessions did not sleep",
			got["dormouse_imap_hibernated_served_total,kind=command"], got["dormouse_imap_wakes_total,cause=client"])
	}
	// A woken session's new connection is not one accepted: the clients'
	// and fillOver's are all.
	if a, want := got["dormouse_imap_connections_accepted_total"], float64(len(quietClients)+1); a != want {
		t.Errorf("%v connections counted accepted, want %v", a, want)
	}
}

// TestQuietSessionsHibernate: sessions that send nothing after LOGIN,
// SELECT or EXAMINE are counted hibernated after hibernate_after, and a
// NOOP is answered asleep without a full wake.
func TestQuietSessionsHibernate(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
	}))
	fill(t, srv, "INBOX", 2)
	rw := srv.Login(t, srv.Alice)
	rw.Cmd("s SELECT INBOX")
	ro := srv.Login(t, srv.Alice)
	ro.Cmd("s EXAMINE INBOX")
	auth := srv.Login(t, srv.Bob)
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 3)
	// The filling session may have slept between its commands and
	// woken for the next: wakes count from here.
	base := testserver.Gather(t, srv.Metrics)["dormouse_imap_wakes_total,cause=client"]
	for _, c := range []*testserver.Client{rw, ro, auth} {
		c.Run(`
C: n NOOP
S: n OK NOOP completed
`)
	}
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_hibernated_served_total,kind=command", 3)
	got := testserver.Gather(t, srv.Metrics)
	if w := got["dormouse_imap_wakes_total,cause=client"] - base; w != 0 {
		t.Errorf("client wakes = %v, want 0: a NOOP with nothing to report is answered asleep", w)
	}
	if n := got["dormouse_imap_commands_total,command=NOOP,result=ok"]; n != 3 {
		t.Errorf("NOOP counted %v times, want 3", n)
	}
}

// TestQuietWakeHoldsExpunge: an EXPUNGE from another session reaches a
// woken quiet session exactly as it reaches one that stayed awake: not
// during a FETCH by sequence number (the old number still names the
// expunged message), then at the next command that allows it, a NOOP
// answered asleep.
func TestQuietWakeHoldsExpunge(t *testing.T) {
	for _, after := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprintf("hibernate_after=%v", after), func(t *testing.T) {
			srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
				c.HibernateAfter = after
			}))
			asleep := func(n float64) {
				if after > 0 {
					testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", n)
				}
			}
			fill(t, srv, "INBOX", 3)
			q := srv.Login(t, srv.Alice)
			q.Cmd("s SELECT INBOX")
			asleep(1)
			c := srv.Login(t, srv.Alice)
			c.Cmd("c1 SELECT INBOX")
			c.Cmd("c2 STORE 2 +FLAGS.SILENT (\\Deleted)")
			c.Cmd("c3 EXPUNGE")
			asleep(2)
			q.Run(`
C: f FETCH 2 (FLAGS)
S: * 2 FETCH (UID 2 FLAGS (\Deleted \Recent))
S: * 2 FETCH (FLAGS (\Deleted \Recent))
S: f OK FETCH completed
`)
			asleep(2)
			q.Run(`
C: n NOOP
S: * 2 EXPUNGE
S: n OK NOOP completed
C: g FETCH 2 (FLAGS)
S: * 2 FETCH (FLAGS (\Recent))
S: g OK FETCH completed
`)
			if after == 0 {
				return
			}
			got := testserver.Gather(t, srv.Metrics)
			if w, s := got["dormouse_imap_wakes_total,cause=client"], got["dormouse_imap_hibernated_served_total,kind=command"]; w < 2 || s < 1 {
				t.Errorf("client wakes %v, commands answered asleep %v; want ≥ 2 and ≥ 1", w, s)
			}
		})
	}
}

// TestQuietAutologout: a quiet sleeper is logged out after the idle
// timeout counted from its last command, as an awake session between
// commands is (RFC 9051 5.4); a NOOP answered asleep is a command and
// starts the count again.
func TestQuietAutologout(t *testing.T) {
	const timeout = 2 * time.Second
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
		c.Limits.IdleTimeout = timeout
	}))
	c := srv.Login(t, srv.Alice)
	c.Cmd("s SELECT INBOX")
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	// Counted from here: the session may have slept between LOGIN and
	// SELECT too (woken by the SELECT).
	base := testserver.Gather(t, srv.Metrics)
	// Three quarters into the timeout (the hibernator checks it every
	// second): counted from the SELECT, the BYE would come less than a
	// timeout after the NOOP.
	time.Sleep(timeout * 3 / 4)
	c.Run(`
C: n NOOP
S: n OK NOOP completed
`)
	noop := time.Now()
	if got := c.ExpectClosed(); len(got) != 1 || got[0] != "* BYE Autologout; idle for too long" {
		t.Fatalf("quiet sleeper: %q", got)
	}
	if d := time.Since(noop); d < timeout {
		t.Errorf("autologout %v after the NOOP, before the idle timeout", d)
	}
	got := testserver.Gather(t, srv.Metrics)
	if w, s := got["dormouse_imap_wakes_total,cause=client"]-base["dormouse_imap_wakes_total,cause=client"], got["dormouse_imap_hibernated_served_total,kind=command"]-base["dormouse_imap_hibernated_served_total,kind=command"]; w != 0 || s != 1 {
		t.Errorf("client wakes %v, commands answered asleep %v; want 0 and 1", w, s)
	}
}

// TestKeepaliveAnswersAsleep: Thunderbird answers each keepalive of its
// INBOX connection with DONE, NOOP, GETQUOTAROOT "INBOX", UID FETCH
// <uidnext>:* (FLAGS) and a new IDLE. None of it costs a full wake: the UID FETCH gets the last
// message's flags (n:* names it although n is above its UID) from one
// record read. A command that needs the session, sent in answer to a
// keepalive, is counted in keepalive_wakes_total; one sent after the
// client went back to IDLE is not.
func TestKeepaliveAnswersAsleep(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
		c.IdleKeepalive = 500 * time.Millisecond
	}))
	fill(t, srv, "INBOX", 2)
	c := srv.Login(t, srv.Alice)
	c.Cmd("s SELECT INBOX")
	c.Cmd(`f STORE 2 +FLAGS (\Seen)`)
	c.Send("i0 IDLE")
	c.Expect("S: + idling")
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	// The filling session may have slept between its commands and
	// woken for the next: wakes count from here.
	base := testserver.Gather(t, srv.Metrics)
	const wakes = "dormouse_imap_wakes_total,cause=client"
	for i := 1; i <= 2; i++ {
		c.Expect("S: * OK Still here")
		c.Run(fmt.Sprintf(`
C: DONE
S: i%d OK IDLE terminated
C: n%d NOOP
S: n%d OK NOOP completed
C: g%d getquotaroot "INBOX"
S: * QUOTAROOT INBOX
S: g%d OK GETQUOTAROOT completed
C: u%d UID FETCH 3:* (FLAGS)
S: * 2 FETCH (UID 2 FLAGS (\Seen \Recent))
S: u%d OK UID FETCH completed
C: i%d IDLE
S: + idling
`, i-1, i, i, i, i, i, i, i))
	}
	got := testserver.Gather(t, srv.Metrics)
	if w := got[wakes] - base[wakes]; w != 0 {
		t.Errorf("client wakes in two keepalive rounds = %v, want 0", w)
	}
	if n := got["dormouse_imap_keepalive_wakes_total,command=UID FETCH"]; n != 0 {
		t.Errorf("keepalive wakes = %v, want 0", n)
	}
	if n := got["dormouse_imap_commands_total,command=FETCH,result=ok"]; n != 2 {
		t.Errorf("FETCH counted %v times, want 2", n)
	}

	// A command that needs the session, in answer to a keepalive: one
	// wake, counted as the keepalive's.
	c.Expect("S: * OK Still here")
	c.Run(`
C: DONE
S: i2 OK IDLE terminated
C: w1 UID FETCH 3:* (FLAGS RFC822.SIZE)
S~ \* 2 FETCH \(UID 2 FLAGS \(\\Seen \\Recent\) RFC822.SIZE [0-9]+\)
S: w1 OK UID FETCH completed
C: i3 IDLE
S: + idling
`)
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	got = testserver.Gather(t, srv.Metrics)
	if w, k := got[wakes]-base[wakes], got["dormouse_imap_keepalive_wakes_total,command=UID FETCH"]; w != 1 || k != 1 {
		t.Errorf("client wakes %v, keepalive wakes by UID FETCH %v; want 1 and 1", w, k)
	}
	// The same command once the client is back in IDLE is the
	// client's own work, not the keepalive's. A keepalive may come
	// first if the machine is slow: then the wake is the keepalive's.
	c.Send("DONE")
	c.Send("w2 UID FETCH 3:* (FLAGS RFC822.SIZE)")
	keepalive := false
	for {
		line := c.ReadLine()
		if line == "* OK Still here" {
			keepalive = true
		}
		if strings.HasPrefix(line, "w2 ") {
			break
		}
	}
	got = testserver.Gather(t, srv.Metrics)
	if k := got["dormouse_imap_keepalive_wakes_total,command=UID FETCH"]; k != 1 && !keepalive {
		t.Errorf("keepalive wakes by UID FETCH %v after a wake in IDLE; want still 1", k)
	}
}
