package imapserver_test

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// fastClients are the connections of the second differential script,
// which exercises what a sleeper answers in place: several per
// user; IMAP4rev1 and IMAP4rev2; CONDSTORE, QRESYNC under both; read-write
// and read-only. Per mailbox one read-write session idles, so which one
// claims \Recent is fixed.
var fastClients = []hibClient{
	{"a", "alice"}, // IMAP4rev1 + CONDSTORE, SELECT, idles (claims \Recent)
	{"b", "alice"}, // IMAP4rev2 + QRESYNC, EXAMINE, idles
	{"g", "alice"}, // IMAP4rev1 + QRESYNC, EXAMINE, idles
	{"d", "alice"}, // IMAP4rev1, EXAMINE, idles
	{"c", "alice"}, // IMAP4rev2, SELECT: flag changes and expunges
	{"f", "alice"}, // authenticated only: APPENDs
	{"e", "bob"},   // IMAP4rev2, SELECT, idles
	{"h", "bob"},   // IMAP4rev1, EXAMINE, idles
}

func fastScript() []hibStep {
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
	// every: what each alice idler reads up to for one change.
	every := func(a, b, g, d string, more ...string) map[string]string {
		return w(append([]string{"a", a, "b", b, "g", g, "d", d}, more...)...)
	}
	s := []hibStep{
		{who: "a", send: "a1 ENABLE CONDSTORE\r\n", waitFor: w("a", "a1 ")},
		{who: "a", send: "a2 SELECT INBOX\r\n", waitFor: w("a", "a2 ")},
		{who: "a", send: "a3 IDLE\r\n", waitFor: w("a", "+ idling")},
		{who: "b", send: "b1 ENABLE IMAP4rev2 QRESYNC\r\n", waitFor: w("b", "b1 ")},
		{who: "b", send: "b2 EXAMINE INBOX\r\n", waitFor: w("b", "b2 ")},
		{who: "b", send: "b3 IDLE\r\n", waitFor: w("b", "+ idling")},
		{who: "g", send: "g1 ENABLE QRESYNC\r\n", waitFor: w("g", "g1 ")},
		{who: "g", send: "g2 EXAMINE INBOX\r\n", waitFor: w("g", "g2 ")},
		{who: "g", send: "g3 IDLE\r\n", waitFor: w("g", "+ idling")},
		{who: "d", send: "d1 EXAMINE INBOX\r\n", waitFor: w("d", "d1 ")},
		{who: "d", send: "d2 IDLE\r\n", waitFor: w("d", "+ idling")},
		{who: "c", send: "c1 ENABLE IMAP4rev2\r\n", waitFor: w("c", "c1 ")},
		{who: "c", send: "c2 SELECT INBOX\r\n", waitFor: w("c", "c2 ")},
		{who: "e", send: "e1 ENABLE IMAP4rev2\r\n", waitFor: w("e", "e1 ")},
		{who: "e", send: "e2 SELECT INBOX\r\n", waitFor: w("e", "e2 ")},
		{who: "e", send: "e3 IDLE\r\n", waitFor: w("e", "+ idling")},
		{who: "h", send: "h1 EXAMINE INBOX\r\n", waitFor: w("h", "h1 ")},
		{who: "h", send: "h2 IDLE\r\n", waitFor: w("h", "+ idling")},

		// A file renamed into new/, and the store's Append.
		{who: "deliver:alice", send: testMessage(3), waitFor: every("RECENT", "EXISTS", "RECENT", "RECENT")},
		{who: "f", send: appendLit("f1", 4), waitFor: every("RECENT", "EXISTS", "RECENT", "RECENT", "f", "f1 ")},
		// Two changes close together: an APPEND, and 0-3 ms after its
		// OK a delivery, which sleepers may get while still serving the
		// first (one update or two, see canonical). Not at once: the
		// store applies a lone file delivery as soon as inotify reports
		// it, so a delivery racing the APPEND would take UID 5 in one run
		// and 6 in the other, and move \Recent claims with it.
		{who: "f", send: appendLit("f2", 6), waitFor: w("f", "f2 "), quick: true},
		{who: "deliver:alice", send: testMessage(5),
			waitFor: every("* 6 EXISTS\nRECENT", "* 6 EXISTS", "* 6 EXISTS\nRECENT", "* 6 EXISTS\nRECENT")},
		// c catches up (its view claims nothing: a claimed it all).
		{who: "c", send: "c20 NOOP\r\n", waitFor: w("c", "c20 ")},
		// Flag changes from another session, a new keyword (FLAGS and
		// PERMANENTFLAGS, read-only or not) and several FETCHes.
		{who: "c", send: "c3 STORE 1 +FLAGS (\\Flagged)\r\n", waitFor: every("FETCH", "FETCH", "FETCH", "FETCH", "c", "c3 ")},
		{who: "c", send: "c4 STORE 2 +FLAGS ($Forwarded)\r\n", waitFor: every("FETCH", "FETCH", "FETCH", "FETCH", "c", "c4 ")},
		{who: "c", send: "c5 UID STORE 3:5 +FLAGS (\\Seen)\r\n", waitFor: every("* 5 FETCH", "* 5 FETCH", "* 5 FETCH", "* 5 FETCH", "c", "c5 ")},
		// DONE and a new IDLE in one packet, answered asleep.
		{who: "a", send: "DONE\r\na4 IDLE\r\n", waitFor: w("a", "+ idling")},
		{who: "g", send: "done\r\ng4 idle\r\n", waitFor: w("g", "+ idling")},
		// In two packets, answered asleep too; between them b is between
		// commands and hears of nothing until its next IDLE.
		{who: "b", send: "DONE\r\n", waitFor: w("b", "b3 ")},
		{who: "c", send: "c30 STORE 1 -FLAGS (\\Flagged)\r\n", waitFor: w("a", "FETCH", "g", "FETCH", "d", "FETCH", "c", "c30 ")},
		{who: "deliver:alice", send: testMessage(31), waitFor: w("a", "RECENT", "g", "RECENT", "d", "RECENT")},
		{who: "b", send: "b4 IDLE\r\n", waitFor: w("b", "FETCH")},
		// Expunges: EXPUNGE in old numbering, descending; VANISHED under
		// QRESYNC.
		{who: "c", send: "c6 STORE 2,4 +FLAGS.SILENT (\\Deleted)\r\n", waitFor: every("* 4 FETCH", "* 4 FETCH", "* 4 FETCH", "* 4 FETCH", "c", "c6 ")},
		{who: "c", send: "c7 EXPUNGE\r\n", waitFor: every("* 2 EXPUNGE", "VANISHED", "VANISHED", "* 2 EXPUNGE", "c", "c7 ")},
		{who: "deliver:bob", send: testMessage(7), waitFor: w("e", "EXISTS", "h", "RECENT")},
		// DONE at random moments: right after the client's IDLE began,
		// racing its hibernation.
		{who: "e", send: "DONE\r\ne4 IDLE\r\n", waitFor: w("e", "+ idling"), quick: true},
		{who: "e", send: "DONE\r\n", waitFor: w("e", "e4 "), quick: true},
		{who: "e", send: "e5 IDLE\r\n", waitFor: w("e", "+ idling"), quick: true},
		{who: "e", send: "DONE\r\ne6 IDLE\r\n", waitFor: w("e", "+ idling")},
		{who: "h", send: "DONE\r\nh3 IDLE\r\n", waitFor: w("h", "+ idling"), quick: true},
		{who: "deliver:bob", send: testMessage(8), waitFor: w("e", "EXISTS", "h", "RECENT")},
		{who: "d", send: "DONE\r\nd3 IDLE\r\n", waitFor: w("d", "+ idling"), quick: true},
		{who: "d", send: "DONE\r\nd4 IDLE\r\n", waitFor: w("d", "+ idling"), quick: true},
		{who: "deliver:alice", send: testMessage(9), waitFor: every("RECENT", "EXISTS", "RECENT", "RECENT")},
		// A command other than IDLE after DONE, in the same packet: a
		// full wake that keeps the bytes read.
		{who: "a", send: "DONE\r\na5 NOOP\r\n", waitFor: w("a", "a5 ")},
		{who: "a", send: "a6 IDLE\r\n", waitFor: w("a", "+ idling")},
	}
	// Re-IDLEs and deliveries, each answered asleep.
	for i := range 3 {
		s = append(s,
			hibStep{who: "a", send: fmt.Sprintf("DONE\r\na%d IDLE\r\n", 10+i), waitFor: w("a", "+ idling")},
			hibStep{who: "b", send: fmt.Sprintf("DONE\r\nb%d IDLE\r\n", 10+i), waitFor: w("b", "+ idling")},
			hibStep{who: "deliver:alice", send: testMessage(10 + i), waitFor: every("RECENT", "EXISTS", "RECENT", "RECENT")},
			hibStep{who: "c", send: fmt.Sprintf("c%d STORE 1 %sFLAGS (\\Draft)\r\n", 10+i, []string{"+", "-"}[i%2]),
				waitFor: every("FETCH", "FETCH", "FETCH", "FETCH", "c", fmt.Sprintf("c%d ", 10+i))},
		)
	}
	for _, c := range []string{"a", "b", "g", "d", "e", "h"} {
		s = append(s,
			hibStep{who: c, send: "DONE\r\n", waitFor: w(c, " OK IDLE")},
			hibStep{who: c, send: c + "9 FETCH 1:* (UID FLAGS)\r\n", waitFor: w(c, c+"9 ")},
		)
	}
	return s
}

// canonical rewrites what timing decides in both runs alike: two
// changes at once (a delivery and an APPEND) reach a client as one update
// or two, so a run of EXISTS and RECENT lines, with the HIGHESTMODSEQ
// that CONDSTORE and QRESYNC clients get after each, keeps only its last
// EXISTS, RECENT and HIGHESTMODSEQ. The client's final state is the same
// either way. (A session resumed through the proxy, or woken, opens the
// mailbox after the store has applied every delivery made before the
// open, so it may count two at once where an awake session heard them
// one by one.)
func canonical(s string) string {
	lines := strings.SplitAfter(s, "\r\n")
	var out []string
	isCount := regexp.MustCompile(`^S: \* (\d+ (EXISTS|RECENT)|OK \[HIGHESTMODSEQ \d+\] Highest)\r\n$`)
	for i := 0; i < len(lines); {
		if !isCount.MatchString(lines[i]) {
			out = append(out, lines[i])
			i++
			continue
		}
		var exists, recent, highest string
		for ; i < len(lines) && isCount.MatchString(lines[i]); i++ {
			switch l := lines[i]; {
			case strings.HasSuffix(l, "EXISTS\r\n"):
				exists = l
			case strings.HasSuffix(l, "RECENT\r\n"):
				recent = l
			default:
				highest = l
			}
		}
		out = append(out, exists, recent, highest)
	}
	return strings.Join(out, "")
}

// TestHibernationDifferentialFast runs fastScript with hibernation off and
// after 1 ms. The transcripts must match byte for byte after canonical;
// the fast paths must have been taken.
func TestHibernationDifferentialFast(t *testing.T) {
	checkFastDifferential(t, transportPlain)
}

// checkFastDifferential is TestHibernationDifferentialFast over tr.
func checkFastDifferential(t *testing.T, tr transport) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	got, _ := compareHibernation(t, tr, fastClients, fastScript,
		rand.New(rand.NewPCG(seed, 1)), rand.New(rand.NewPCG(seed, 1)), canonical, "g")
	if got["dormouse_imap_hibernated_served_total,kind=update"] < 40 || got["dormouse_imap_hibernated_served_total,kind=reidle"] < 6 {
		t.Errorf("served in place: %v updates, %v re-IDLEs; want ≥ 40 and ≥ 6",
			got["dormouse_imap_hibernated_served_total,kind=update"], got["dormouse_imap_hibernated_served_total,kind=reidle"])
	}
}

// TestHibernationStaysAsleep shows that re-IDLEs and mailbox changes are
// answered without restoring the session: across n of each, for clients
// of every kind, no connection is fully woken (a full wake would count in
// wakes_total and take the connection out of the hibernated gauge).
func TestHibernationStaysAsleep(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
	}))
	fill(t, srv, "INBOX", 3)
	setups := []struct {
		enable, sel string
		condstore   bool // told OK [HIGHESTMODSEQ] after EXISTS
	}{
		{"", "SELECT", false},                         // IMAP4rev1, claims \Recent
		{"ENABLE CONDSTORE", "EXAMINE", true},         // IMAP4rev1 + CONDSTORE
		{"ENABLE IMAP4rev2 QRESYNC", "EXAMINE", true}, // IMAP4rev2 + QRESYNC
		{"ENABLE IMAP4rev2", "EXAMINE", false},
	}
	var cs []*testserver.Client
	for _, s := range setups {
		c := srv.Login(t, srv.Alice)
		if s.enable != "" {
			c.Cmd("en " + s.enable)
		}
		// SELECT and IDLE in one write: a quiet sleep between them
		// would make the IDLE a re-IDLE answered asleep, counted below.
		c.Write("s " + s.sel + " INBOX\r\ni0 IDLE\r\n")
		c.ReadUntilTagged("s")
		c.Expect("S: + idling")
		cs = append(cs, c)
	}
	// The changer selects after the first client claimed \Recent and
	// refreshes only after every client saw a change, so it claims
	// nothing; the appender selects nothing. Both sleep between their
	// commands too, and wake for each.
	changer := selectInbox(t, srv)
	appender := srv.Login(t, srv.Alice)
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", float64(len(cs)+2))
	// A sleeper's since changes when it is woken and sleeps again.
	since := make([]time.Time, len(cs))
	for i, c := range cs {
		since[i] = sleptSince(t, srv, c)
	}
	const n = 10
	for i := 1; i <= n; i++ {
		for _, c := range cs {
			// DONE and IDLE in one packet, or (odd rounds) DONE, its
			// answer, then IDLE, as most clients send them.
			if i%2 == 0 {
				c.Write(fmt.Sprintf("DONE\r\ni%d IDLE\r\n", i))
				c.Expect(fmt.Sprintf("S: i%d OK IDLE terminated", i-1), "S: + idling")
				continue
			}
			c.Write("DONE\r\n")
			c.Expect(fmt.Sprintf("S: i%d OK IDLE terminated", i-1))
			c.Write(fmt.Sprintf("i%d IDLE\r\n", i))
			c.Expect("S: + idling")
		}
		// A delivery, alternately through the store and as a file.
		if i%2 == 0 {
			appendMsg(t, appender, "INBOX", "", testMessage(100+i))
		} else {
			srv.Deliver(t, "alice", testMessage(100+i))
		}
		for j, c := range cs {
			c.Expect(fmt.Sprintf("S: * %d EXISTS", 3+i))
			switch j {
			case 0: // claims every new message
				c.Expect(fmt.Sprintf("S: * %d RECENT", 3+i))
			case 1: // read-only: claims none
				c.Expect("S: * 0 RECENT")
			}
			if setups[j].condstore {
				c.Expect(`S~ \* OK \[HIGHESTMODSEQ \d+\] Highest`)
			}
		}
		// A flag change from another session.
		changer.Cmd(fmt.Sprintf("st%d UID STORE %d +FLAGS.SILENT (\\Seen)", i, i))
		for j, c := range cs {
			l := c.ReadLine()
			if !strings.Contains(l, " FETCH (UID ") {
				t.Fatalf("client %d: want FETCH, got %q", j, l)
			}
		}
	}
	got := testserver.Gather(t, srv.Metrics)
	if w := got["dormouse_imap_wakes_total,cause=mailbox"]; w != 0 {
		t.Errorf("%v full wakes by a change, want 0: %v", w, got)
	}
	for i, c := range cs {
		if s := sleptSince(t, srv, c); !s.Equal(since[i]) {
			t.Errorf("client %d: asleep since %v, then since %v: it was woken", i, since[i], s)
		}
	}
	if r := got["dormouse_imap_hibernated_served_total,kind=reidle"]; r != float64(3*n/2*len(cs)) {
		t.Errorf("DONE/IDLE answered in place = %v, want %d", r, 3*n/2*len(cs))
	}
	// Two changes per round reach every client, checked line by line
	// above; the metric counts answers, and two changes that a sleeper's
	// serve finds together go out in one (about 1 run in 15 here).
	if u := got["dormouse_imap_hibernated_served_total,kind=update"]; u < float64(n*len(cs)) {
		t.Errorf("updates in place = %v, want ≥ %d", u, n*len(cs))
	}
}

// TestHibernationAutologoutBetweenCommands: after a DONE answered asleep
// the connection waits for a command, and the idle timeout ends it as it
// ends an active session between commands; a sleeper still in IDLE is
// not ended by it (RFC 2177: IDLE is exempt).
func TestHibernationAutologoutBetweenCommands(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
		c.Limits.IdleTimeout = 1500 * time.Millisecond
	}))
	fill(t, srv, "INBOX", 1)
	var cs []*testserver.Client
	for range 2 {
		c := selectInbox(t, srv)
		c.Send("i0 IDLE")
		c.Expect("S: + idling")
		cs = append(cs, c)
	}
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 2)
	// The filling session may have slept between its commands and
	// woken for the next: wakes count from here.
	base := testserver.Gather(t, srv.Metrics)["dormouse_imap_wakes_total,cause=client"]
	between, idling := cs[0], cs[1]
	between.Write("DONE\r\n")
	between.Expect("S: i0 OK IDLE terminated")
	start := time.Now()
	if got := between.ExpectClosed(); len(got) != 1 || got[0] != "* BYE Autologout; idle for too long" {
		t.Fatalf("between commands: %q", got)
	}
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("autologout after %v, before the idle timeout", d)
	}
	// The one still idling outlives the timeout and still answers.
	idling.Write("DONE\r\n")
	idling.Expect("S: i0 OK IDLE terminated")
	idling.Cmd("f FETCH 1 (FLAGS)")
	got := testserver.Gather(t, srv.Metrics)
	if w := got["dormouse_imap_wakes_total,cause=client"] - base; w != 1 {
		t.Errorf("full wakes = %v, want 1 (the FETCH)", w)
	}
}

// sleptSince returns since when c's connection is hibernated; the test
// fails when it is not.
func sleptSince(t *testing.T, srv *testserver.Server, c *testserver.Client) time.Time {
	t.Helper()
	addr := c.NetConn().LocalAddr().String()
	for _, s := range srv.IMAP.Sessions() {
		if s.Remote == addr {
			if !s.Asleep {
				t.Fatalf("connection %s is awake", addr)
			}
			return s.Since
		}
	}
	t.Fatalf("connection %s: no session", addr)
	return time.Time{}
}

// TestCanonical: a run of counts and HIGHESTMODSEQs becomes its last
// three; a FETCH between two ends the run.
func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"S: * 5 EXISTS\r\nS: * 0 RECENT\r\nS: * OK [HIGHESTMODSEQ 6] Highest\r\nS: * 6 EXISTS\r\nS: * 0 RECENT\r\nS: * OK [HIGHESTMODSEQ 7] Highest\r\n",
			"S: * 6 EXISTS\r\nS: * 0 RECENT\r\nS: * OK [HIGHESTMODSEQ 7] Highest\r\n"},
		{"S: * 5 EXISTS\r\nS: * 1 FETCH (FLAGS ())\r\nS: * 6 EXISTS\r\n",
			"S: * 5 EXISTS\r\nS: * 1 FETCH (FLAGS ())\r\nS: * 6 EXISTS\r\n"},
		{"C: a IDLE\r\nS: * 2 EXISTS\r\nS: * 3 EXISTS\r\nS: a OK\r\n", "C: a IDLE\r\nS: * 3 EXISTS\r\nS: a OK\r\n"},
	} {
		if got := canonical(tc.in); got != tc.want {
			t.Errorf("canonical(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
