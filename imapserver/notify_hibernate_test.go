package imapserver_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// notifyClients are the connections of the NOTIFY differential script.
// p is the only IMAP4rev1 read-write session, so which session claims
// \Recent is fixed.
var notifyClients = []hibClient{
	{"p", "alice"}, // IMAP4rev1, SELECT, NOTIFY SELECTED + PERSONAL, quiet
	{"d", "alice"}, // CONDSTORE, EXAMINE, NOTIFY SELECTED-DELAYED + SUBTREE Archive
	{"s", "alice"}, // authenticated only, NOTIFY SET STATUS MAILBOXES, IDLE then quiet
	{"c", "alice"}, // IMAP4rev2, SELECT: flag changes, expunges, mailbox changes
	{"f", "alice"}, // authenticated only: APPENDs
}

func notifyScript() []hibStep {
	w := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	appendTo := func(tag, mailbox string, n int) string {
		m := testMessage(n)
		return fmt.Sprintf("%s APPEND %s {%d+}\r\n%s\r\n", tag, mailbox, len(m), m)
	}
	return []hibStep{
		{who: "p", send: "p1 SELECT INBOX\r\n", waitFor: w("p", "p1 ")},
		{who: "p", send: "p2 NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange))\r\n", waitFor: w("p", "p2 ")},
		{who: "d", send: "d1 ENABLE CONDSTORE\r\n", waitFor: w("d", "d1 ")},
		{who: "d", send: "d2 EXAMINE INBOX\r\n", waitFor: w("d", "d2 ")},
		{who: "d", send: "d3 NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge FlagChange)) (SUBTREE Archive (MessageNew MessageExpunge FlagChange))\r\n", waitFor: w("d", "d3 ")},
		{who: "s", send: "s1 NOTIFY SET STATUS (MAILBOXES (INBOX Archive) (MessageNew MessageExpunge FlagChange))\r\n", waitFor: w("s", "s1 ")},
		{who: "s", send: "s2 IDLE\r\n", waitFor: w("s", "+ idling")},
		{who: "c", send: "c1 ENABLE IMAP4rev2\r\n", waitFor: w("c", "c1 ")},
		{who: "c", send: "c2 SELECT INBOX\r\n", waitFor: w("c", "c2 ")},

		// New mail from outside: pushed to p (between commands) and s
		// (in IDLE); d holds it (SELECTED-DELAYED).
		{who: "deliver:alice", send: testMessage(3), waitFor: w("p", "RECENT", "s", "STATUS INBOX")},
		// Mail to another mailbox: STATUS to all three.
		{who: "f", send: appendTo("f1", "Archive", 4), waitFor: w("f", "f1 ", "p", "STATUS Archive", "d", "STATUS Archive", "s", "STATUS Archive")},
		// A flag change and an expunge in INBOX from another session:
		// p is told at once (EXPUNGE outside a command: NOTIFY
		// SELECTED), s by STATUS, d not yet.
		{who: "c", send: "c3 STORE 1 +FLAGS (\\Flagged)\r\n", waitFor: w("c", "c3 ", "p", "FETCH", "s", "STATUS INBOX")},
		{who: "c", send: "c4 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n", waitFor: w("c", "c4 ", "p", "FETCH", "s", "STATUS INBOX")},
		{who: "c", send: "c5 EXPUNGE\r\n", waitFor: w("c", "c5 ", "p", "EXPUNGE", "s", "STATUS INBOX")},
		// d: a FETCH by number is told the flag changes, not the
		// expunge; a NOOP is told the rest.
		{who: "d", send: "d4 FETCH 1:* (FLAGS)\r\n", waitFor: w("d", "d4 ")},
		{who: "d", send: "d5 NOOP\r\n", waitFor: w("d", "d5 ")},
		// Mailbox events, told to p alone.
		{who: "c", send: "c6 CREATE Projects\r\n", waitFor: w("c", "c6 ", "p", "LIST")},
		{who: "c", send: "c7 RENAME Projects Done\r\n", waitFor: w("c", "c7 ", "p", "OLDNAME")},
		{who: "c", send: "c8 SUBSCRIBE Done\r\n", waitFor: w("c", "c8 ", "p", "LIST")},
		{who: "c", send: "c9 SETMETADATA Done (/private/comment \"x\")\r\n", waitFor: w("c", "c9 ", "p", "METADATA")},
		{who: "p", send: "p3 FETCH 1:* (UID FLAGS)\r\n", waitFor: w("p", "p3 ")},
		// s leaves IDLE (answered asleep) and is told between commands.
		{who: "s", send: "DONE\r\n", waitFor: w("s", "s2 ")},
		{who: "deliver:alice", send: testMessage(5), waitFor: w("p", "RECENT", "s", "STATUS INBOX")},
		{who: "d", send: "d6 IDLE\r\n", waitFor: w("d", "+ idling\nEXISTS")},
		{who: "f", send: appendTo("f2", "INBOX", 6), waitFor: w("f", "f2 ", "p", "RECENT", "s", "STATUS INBOX", "d", "EXISTS")},
		{who: "d", send: "DONE\r\n", waitFor: w("d", "d6 ")},
		{who: "s", send: "s3 NOOP\r\n", waitFor: w("s", "s3 ")},
		// NOTIFY NONE: p is told nothing more between commands, and
		// its NOOP tells it what changed, as without NOTIFY.
		{who: "p", send: "p4 NOTIFY NONE\r\n", waitFor: w("p", "p4 ")},
		{who: "c", send: "c10 STORE 1 -FLAGS (\\Flagged)\r\n", waitFor: w("c", "c10 ", "s", "STATUS INBOX")},
		{who: "p", send: "p5 NOOP\r\n", waitFor: w("p", "p5 ")},
		{who: "d", send: "d7 FETCH 1:* (UID FLAGS)\r\n", waitFor: w("d", "d7 ")},
	}
}

// TestHibernationDifferentialNotify runs notifyScript with hibernation
// off and after 1 ms: NOTIFY sessions (SELECTED between commands,
// SELECTED-DELAYED with IDLE, authenticated only with STATUS at SET, in
// IDLE and between commands) told of deliveries, APPENDs, flag changes,
// expunges and mailbox changes from other sessions hear the same bytes
// asleep as awake.
func TestHibernationDifferentialNotify(t *testing.T) {
	checkNotifyDifferential(t, transportPlain)
}

// checkNotifyDifferential is TestHibernationDifferentialNotify over tr.
func checkNotifyDifferential(t *testing.T, tr transport) {
	rng := rand.New(rand.NewPCG(5, 6))
	got, _ := compareHibernation(t, tr, notifyClients, notifyScript, rng, rng, asSent, "p")
	if got["dormouse_imap_hibernated_served_total,kind=notify"] < 5 || got["dormouse_imap_hibernated_served_total,kind=update"] < 5 {
		t.Errorf("served asleep %v NOTIFY pushes and %v updates; want ≥ 5 each: the NOTIFY sessions were not told in place",
			got["dormouse_imap_hibernated_served_total,kind=notify"], got["dormouse_imap_hibernated_served_total,kind=update"])
	}
}

// TestNotifyAsleep: a hibernated NOTIFY session, quiet between commands,
// is pushed a STATUS for another mailbox and its own mailbox's EXISTS in
// place: no wake, and it is asleep all along.
func TestNotifyAsleep(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
	}))
	n := srv.Login(t, srv.Alice)
	mustOK(t, n, "n1 SELECT INBOX")
	mustOK(t, n, "n2 NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (PERSONAL (MessageNew MessageExpunge))")
	c := srv.Login(t, srv.Alice)
	waitAsleep(t, srv, n)
	since := sessionOf(t, srv, n).Since
	base := testserver.Gather(t, srv.Metrics)
	mustOK(t, c, appendCmd("c1", "Archive", 1))
	n.Expect(status("Archive", 1, 2, 1))
	mustOK(t, c, appendCmd("c2", "INBOX", 2))
	n.Expect("S: * 1 EXISTS", "S: * 1 RECENT")
	waitAsleep(t, srv, n)
	if s := sessionOf(t, srv, n); !s.Since.Equal(since) {
		t.Errorf("n slept since %v, then since %v: it woke", since, s.Since)
	}
	got := testserver.Gather(t, srv.Metrics)
	if s := got["dormouse_imap_hibernated_served_total,kind=notify"] - base["dormouse_imap_hibernated_served_total,kind=notify"]; s != 1 {
		t.Errorf("NOTIFY pushes served asleep = %v, want 1", s)
	}
}

// sessionOf returns the session of c.
func sessionOf(t *testing.T, srv *testserver.Server, c *testserver.Client) imapserver.Session {
	t.Helper()
	addr := c.NetConn().LocalAddr().String()
	for _, s := range srv.IMAP.Sessions() {
		if s.Remote == addr {
			return s
		}
	}
	t.Fatalf("no session for %s", addr)
	return imapserver.Session{}
}
