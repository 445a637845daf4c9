package imapserver_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
)

// hibStep is one step of a differential script: a client sends a line (or
// alice or bob gets a delivery), then each named client reads until a
// line containing its marker. Waiting for every expected response before
// the next step makes the transcript independent of scheduling.
type hibStep struct {
	// who is a client name, or "deliver:alice" / "deliver:bob" (a file
	// renamed into new/), "deliverto:alice:<mailbox>" (the same into
	// another folder), "setquota:alice" (send: "<bytes> <messages>",
	// limits set through the store, as by SETQUOTA).
	who  string
	send string // raw bytes, "\r\n" included; a message for a delivery
	// waitFor maps a client to the substring of the last line to read;
	// "\n" separates markers to meet in turn.
	waitFor map[string]string
	// quick: the next step follows after a random 0-3 ms instead of
	// once every idler has hibernated, so that it races hibernation.
	quick bool
}

// hibClient is a connection of a differential script.
type hibClient struct{ name, user string }

// hibClients are the script's connections: several per user, IMAP4rev1 and
// IMAP4rev2, read-write and read-only. Only a (rev1, read-write) ever
// idles while new mail arrives, so which session claims \Recent is fixed;
// c changes flags and expunges only with commands that never claim first.
var hibClients = []hibClient{
	{"a", "alice"}, // IMAP4rev1 + CONDSTORE, SELECT, idles
	{"b", "alice"}, // IMAP4rev2 + QRESYNC, EXAMINE, idles
	{"c", "alice"}, // IMAP4rev2, SELECT, changes flags and expunges
	{"d", "alice"}, // IMAP4rev1, EXAMINE, idles
	{"f", "alice"}, // authenticated only, APPENDs
	{"e", "bob"},   // IMAP4rev2, SELECT, idles
}

func hibScript() []hibStep {
	msg := func(n int) string { return testMessage(n) }
	appendLit := func(tag string, n int) string {
		m := msg(n)
		return fmt.Sprintf("%s APPEND INBOX {%d+}\r\n%s\r\n", tag, len(m), m)
	}
	w := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	return []hibStep{
		{"a", "a1 ENABLE CONDSTORE\r\n", w("a", "a1 "), false},
		{"a", "a2 SELECT INBOX\r\n", w("a", "a2 "), false},
		{"a", "a3 IDLE\r\n", w("a", "+ idling"), false},
		{"b", "b1 ENABLE IMAP4rev2 QRESYNC\r\n", w("b", "b1 "), false},
		{"b", "b2 EXAMINE INBOX\r\n", w("b", "b2 "), false},
		{"b", "b3 IDLE\r\n", w("b", "+ idling"), false},
		{"d", "d1 EXAMINE INBOX\r\n", w("d", "d1 "), false},
		{"d", "d2 IDLE\r\n", w("d", "+ idling"), false},
		{"c", "c1 ENABLE IMAP4rev2\r\n", w("c", "c1 "), false},
		{"c", "c2 SELECT INBOX\r\n", w("c", "c2 "), false},
		{"e", "e1 ENABLE IMAP4rev2\r\n", w("e", "e1 "), false},
		{"e", "e2 SELECT INBOX\r\n", w("e", "e2 "), false},
		{"e", "e3 IDLE\r\n", w("e", "+ idling"), false},
		// An external delivery wakes every idler of alice's INBOX.
		{"deliver:alice", msg(3), w("a", "RECENT", "b", "EXISTS", "d", "RECENT"), false},
		// An APPEND from another session.
		{"f", appendLit("f1", 4), w("f", "f1 ", "a", "RECENT", "b", "EXISTS", "d", "RECENT"), false},
		// A flag change (STORE by sequence number applies no pending
		// change in c, so c claims nothing).
		{"c", "c3 STORE 1 +FLAGS (\\Flagged)\r\n", w("c", "c3 ", "a", "FETCH", "b", "FETCH", "d", "FETCH"), false},
		// DONE while asleep, a command, IDLE again.
		{"a", "DONE\r\n", w("a", "a3 "), false},
		{"a", "a4 NOOP\r\n", w("a", "a4 "), false},
		{"a", "a5 IDLE\r\n", w("a", "+ idling"), false},
		// DONE and a new IDLE in one packet.
		{"b", "DONE\r\nb4 IDLE\r\n", w("b", "+ idling"), false},
		// Flag \Deleted, then expunge: EXPUNGE for rev1, VANISHED under QRESYNC.
		{"c", "c4 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n", w("c", "c4 ", "a", "FETCH", "b", "FETCH", "d", "FETCH"), false},
		{"c", "c5 EXPUNGE\r\n", w("c", "c5 ", "a", "EXPUNGE", "b", "VANISHED", "d", "EXPUNGE"), false},
		{"deliver:bob", msg(5), w("e", "EXISTS"), false},
		// Two deliveries in a row, each waited for.
		{"deliver:alice", msg(6), w("a", "RECENT", "b", "EXISTS", "d", "RECENT"), false},
		{"c", "c6 STORE 1 -FLAGS (\\Flagged)\r\n", w("c", "c6 ", "a", "FETCH", "b", "FETCH", "d", "FETCH"), false},
		{"a", "DONE\r\n", w("a", "a5 "), false},
		{"a", "a6 FETCH 1:* (UID FLAGS)\r\n", w("a", "a6 "), false},
		{"b", "DONE\r\n", w("b", "b4 "), false},
		{"d", "DONE\r\n", w("d", "d2 "), false},
		{"e", "DONE\r\n", w("e", "e3 "), false},
		{"e", "e4 FETCH 1:* (UID FLAGS)\r\n", w("e", "e4 "), false},
	}
}

// unstable masks what differs between any two runs of the script, with
// or without hibernation: each run has its own store, so UIDVALIDITY
// (chosen from the clock) differs, and so do MAILBOXIDs, made of it.
var unstable = regexp.MustCompile(`(UIDVALIDITY|APPENDUID|COPYUID) \d+|(MAILBOXID) \([\w-]+\)`)

// runHibScriptOver runs a script on a fresh server with every connection
// over tr and returns each client's transcript; rng times the quick steps.
func runHibScriptOver(t *testing.T, tr transport, hibernateAfter time.Duration, hcs []hibClient, script []hibStep, rng *rand.Rand) (map[string]string, *testserver.Server) {
	t.Helper()
	srv := tr.start(t, func(c *imapserver.Config) {
		c.HibernateAfter = hibernateAfter
	})
	fillOver(t, srv, tr, "INBOX", 2)
	clients := map[string]*testserver.Client{}
	logs := map[string]*strings.Builder{}
	for _, hc := range hcs {
		u := srv.Alice
		if hc.user == "bob" {
			u = srv.Bob
		}
		c := tr.login(t, srv, u)
		c.Timeout = 5 * time.Second
		clients[hc.name] = c
		logs[hc.name] = &strings.Builder{}
	}
	var reading string
	t.Cleanup(func() {
		if t.Failed() && reading != "" {
			t.Logf("reading %s (hibernate after %v), transcript so far:\n%s", reading, hibernateAfter, logs[reading])
		}
	})
	send := func(who, data string) {
		clients[who].Write(data)
		for _, l := range strings.SplitAfter(data, "\r\n") {
			if l != "" {
				fmt.Fprintf(logs[who], "C: %s", l)
			}
		}
	}
	for _, st := range script {
		switch who := st.who; {
		case who == "deliver:alice":
			srv.Deliver(t, "alice", st.send)
		case who == "deliver:bob":
			srv.Deliver(t, "bob", st.send)
		case strings.HasPrefix(who, "deliverto:"):
			user, mailbox, _ := strings.Cut(strings.TrimPrefix(who, "deliverto:"), ":")
			srv.DeliverTo(t, user, mailbox, st.send)
		case strings.HasPrefix(who, "setquota:"):
			setQuota(t, srv, strings.TrimPrefix(who, "setquota:"), st.send)
		default:
			send(who, st.send)
		}
		for name, markers := range st.waitFor {
			reading = name
			for _, marker := range strings.Split(markers, "\n") {
				for {
					l := clients[name].ReadLine()
					fmt.Fprintf(logs[name], "S: %s\r\n", l)
					if strings.Contains(l, marker) {
						break
					}
				}
			}
		}
		if st.quick {
			// The next step races the idlers' hibernation.
			time.Sleep(time.Duration(rng.Int64N(int64(3 * time.Millisecond))))
			continue
		}
		// Every session, idling or quiet between commands, hibernates
		// (after 1 ms) before the next step. Without hibernation there
		// is nothing to wait for: each step has read what it waits for.
		if hibernateAfter > 0 {
			testserver.WaitFor(t, fmt.Sprintf("every session hibernates after %q", st.send), func() bool {
				return allAsleep(srv, clients, tr == transportProxy)
			})
		}
	}
	out := map[string]string{}
	for name, b := range logs {
		out[name] = unstable.ReplaceAllString(b.String(), "$1$2 <n>")
	}
	return out, srv
}

// setQuota sets user's quota limits, limits being "<bytes> <messages>",
// through the store as an administrator's SETQUOTA does.
func setQuota(t *testing.T, srv *testserver.Server, user, limits string) {
	t.Helper()
	var l mailstore.QuotaLimits
	if _, err := fmt.Sscanf(limits, "%d %d", &l.Storage, &l.Messages); err != nil {
		t.Fatalf("quota limits %q: %v", limits, err)
	}
	u, err := srv.Store.User(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.(mailstore.QuotaUser).SetQuotaLimits(context.Background(), &l); err != nil {
		t.Fatal(err)
	}
}

// allAsleep reports whether the session of every client is hibernated
// (a session is known by its client's address), or, with atProxy, gone
// from the server: handed off to sleep at its proxy.
func allAsleep(srv *testserver.Server, clients map[string]*testserver.Client, atProxy bool) bool {
	asleep := map[string]bool{}
	for _, s := range srv.IMAP.Sessions() {
		asleep[s.Remote] = s.Asleep
	}
	for _, c := range clients {
		a, held := asleep[c.NetConn().LocalAddr().String()]
		if atProxy && held || !atProxy && !a {
			return false
		}
	}
	return true
}

// TestHibernationDifferential runs the same script with hibernation off
// and after 1 ms: no client may see a difference (docs/design.md, "The life of
// a connection"). The only masked difference is UIDVALIDITY, which
// differs between any two stores.
func TestHibernationDifferential(t *testing.T) {
	checkDifferential(t, transportPlain)
}

// compareHibernation runs script over tr with hibernation off (timed by
// rngOff) and after 1 ms (rngOn), fails for every client whose two
// transcripts differ after canon, logs show's transcript with -v, and
// returns the metrics and the transcripts of the run with hibernation.
func compareHibernation(t *testing.T, tr transport, hcs []hibClient, script func() []hibStep, rngOff, rngOn *rand.Rand, canon func(string) string, show string) (map[string]float64, map[string]string) {
	t.Helper()
	off, _ := runHibScriptOver(t, tr, 0, hcs, script(), rngOff)
	on, srv := runHibScriptOver(t, tr, time.Millisecond, hcs, script(), rngOn)
	for _, hc := range hcs {
		if canon(off[hc.name]) != canon(on[hc.name]) {
			t.Errorf("client %s: transcripts differ\n--- hibernation off\n%s--- hibernation on\n%s", hc.name, off[hc.name], on[hc.name])
		}
	}
	if testing.Verbose() {
		t.Logf("client %s, hibernation on:\n%s", show, on[show])
	}
	got := testserver.Gather(t, srv.Metrics)
	t.Logf("hibernation metrics: %v", got)
	if tr == transportImplicit || tr == transportStartTLS || tr == transportTLSCompress {
		// Over TLS 1.3 every sleeper keeps its record state alone.
		if k := keptConn(got); len(k) > 0 {
			t.Errorf("TLS sleepers kept their tls.Conn: %v", k)
		}
	}
	return got, on
}

// asSent compares transcripts byte for byte.
func asSent(s string) string { return s }

// checkDifferential is TestHibernationDifferential over tr.
func checkDifferential(t *testing.T, tr transport) {
	rng := rand.New(rand.NewPCG(1, 2))
	got, _ := compareHibernation(t, tr, hibClients, hibScript, rng, rng, asSent, "a")
	// Deliveries, flag changes and expunges are answered in place, and
	// so are DONE and b's DONE + IDLE; the commands after a DONE and EOF wake.
	if got["dormouse_imap_hibernations_total"] < 5 {
		t.Errorf("hibernations_total = %v, want ≥ 5: the script did not exercise hibernation", got["dormouse_imap_hibernations_total"])
	}
	if n := got["dormouse_imap_hibernation_blob_bytes_count"]; n != got["dormouse_imap_hibernations_total"] {
		t.Errorf("blob histogram has %v samples, want one per hibernation", n)
	} else {
		t.Logf("mean state blob: %.1f bytes", got["dormouse_imap_hibernation_blob_bytes_sum"]/n)
	}
	if got["dormouse_imap_wakes_total,cause=client"] == 0 || got["dormouse_imap_hibernated_served_total,kind=update"] == 0 ||
		got["dormouse_imap_hibernated_served_total,kind=reidle"] == 0 {
		t.Errorf("wakes: %v, want client wakes, updates and re-IDLEs in place", got)
	}
	if n := got["dormouse_imap_hibernated_seconds_count"]; n == 0 || n > got["dormouse_imap_hibernations_total"] {
		t.Errorf("hibernated_seconds has %v samples for %v hibernations", n, got["dormouse_imap_hibernations_total"])
	}
}

// TestHibernationHappens checks that idling plain connections really
// sleep (gauge) and are sent a delivery in place. TLS: hibernate_tls_test.go.
func TestHibernationHappens(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
	}))
	fill(t, srv, "INBOX", 1)
	const n = 20
	var cs []*testserver.Client
	for i := 0; i < n; i++ {
		c := selectInbox(t, srv)
		c.Send("i IDLE")
		c.Expect("S: + idling")
		cs = append(cs, c)
	}
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", n)
	if got := testserver.Gather(t, srv.Metrics)["dormouse_imap_connections,state=idling"]; got != 0 {
		t.Errorf("idling = %v, want 0 once all sleep", got)
	}
	srv.Deliver(t, "alice", testMessage(2))
	for _, c := range cs {
		c.Expect("S: * 2 EXISTS")
		if l := c.ReadLine(); !strings.HasSuffix(l, " RECENT") {
			t.Fatalf("want RECENT, got %q", l)
		}
	}
	for _, c := range cs {
		c.Run(`
C: DONE
S: i OK IDLE terminated
C: n NOOP
S: n OK NOOP completed
`)
	}
	got := testserver.Gather(t, srv.Metrics)
	if got["dormouse_imap_hibernated_served_total,kind=update"] < n || got["dormouse_imap_wakes_total,cause=mailbox"] != 0 {
		t.Errorf("updates in place = %v, mailbox wakes = %v, want ≥ %d and 0",
			got["dormouse_imap_hibernated_served_total,kind=update"], got["dormouse_imap_wakes_total,cause=mailbox"], n)
	}
}

// TestHibernationShutdown checks that a sleeping client hears the same BYE
// at shutdown as an idling one.
func TestHibernationShutdown(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
	}))
	c := selectInbox(t, srv)
	c.Send("i IDLE")
	c.Expect("S: + idling")
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	srv.Close()
	c.Expect("S: * BYE Server shutting down")
	if got := testserver.Gather(t, srv.Metrics)["dormouse_imap_connections,state=hibernated"]; got != 0 {
		t.Errorf("hibernated = %v after shutdown, want 0", got)
	}
}
