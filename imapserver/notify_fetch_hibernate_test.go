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

// notifyFetchClients are the connections of the NOTIFY MessageNew fetch
// differential script. r is the only read-write session that ever learns
// of new mail before c's commands, so which session claims \Recent is
// fixed (b, i and e EXAMINE; c, read-write, is always told after r).
var notifyFetchClients = []hibClient{
	{"r", "alice"}, // IMAP4rev1 + CONDSTORE, SELECT, MessageNew with record attributes and ENVELOPE, a live search context, quiet
	{"b", "alice"}, // IMAP4rev2, EXAMINE, MessageNew with BODYSTRUCTURE and a body section, quiet then IDLE
	{"i", "alice"}, // IMAP4rev1 + UTF8=ACCEPT, EXAMINE, MessageNew with MODSEQ before CONDSTORE is on and ENVELOPE, in IDLE
	{"e", "alice"}, // IMAP4rev2, EXAMINE, SELECTED-DELAYED with record attributes, IDLE then quiet
	{"c", "alice"}, // IMAP4rev2, SELECT: flag changes, expunges
	{"f", "alice"}, // authenticated only: APPENDs
}

func notifyFetchScript() []hibStep {
	w := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	appendTo := func(tag, flags string, n int) string {
		m := testMessage(n)
		return fmt.Sprintf("%s APPEND INBOX %s{%d+}\r\n%s\r\n", tag, flags, len(m), m)
	}
	return []hibStep{
		{who: "r", send: "r1 ENABLE CONDSTORE\r\n", waitFor: w("r", "r1 ")},
		{who: "r", send: "r2 SELECT INBOX\r\n", waitFor: w("r", "r2 ")},
		{who: "r", send: "r3 NOTIFY SET (SELECTED (MessageNew (UID FLAGS MODSEQ INTERNALDATE RFC822.SIZE ENVELOPE) MessageExpunge FlagChange))\r\n", waitFor: w("r", "r3 ")},
		// A live search context (RFC 5267): its ADDTO goes before the
		// MessageNew FETCH (RFC 5465 5.2), asleep as awake.
		{who: "r", send: "rs UID SEARCH RETURN (UPDATE) UNDELETED\r\n", waitFor: w("r", "rs ")},
		{who: "b", send: "b1 ENABLE IMAP4rev2\r\n", waitFor: w("b", "b1 ")},
		{who: "b", send: "b2 EXAMINE INBOX\r\n", waitFor: w("b", "b2 ")},
		{who: "b", send: "b3 NOTIFY SET (SELECTED (MessageNew (UID BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (Subject)]) MessageExpunge))\r\n", waitFor: w("b", "b3 ")},
		{who: "i", send: "i0 ENABLE UTF8=ACCEPT\r\n", waitFor: w("i", "i0 ")},
		{who: "i", send: "i1 EXAMINE INBOX\r\n", waitFor: w("i", "i1 ")},
		{who: "i", send: "i2 NOTIFY SET (SELECTED (MessageNew (UID FLAGS MODSEQ RFC822.SIZE ENVELOPE) MessageExpunge FlagChange))\r\n", waitFor: w("i", "i2 ")},
		{who: "i", send: "i3 IDLE\r\n", waitFor: w("i", "+ idling")},
		{who: "e", send: "e1 ENABLE IMAP4rev2\r\n", waitFor: w("e", "e1 ")},
		{who: "e", send: "e2 EXAMINE INBOX\r\n", waitFor: w("e", "e2 ")},
		{who: "e", send: "e3 NOTIFY SET (SELECTED-DELAYED (MessageNew (UID FLAGS RFC822.SIZE) MessageExpunge))\r\n", waitFor: w("e", "e3 ")},
		{who: "e", send: "e4 IDLE\r\n", waitFor: w("e", "+ idling")},
		{who: "c", send: "c1 ENABLE IMAP4rev2\r\n", waitFor: w("c", "c1 ")},
		{who: "c", send: "c2 SELECT INBOX\r\n", waitFor: w("c", "c2 ")},

		// New mail from outside: r (quiet, record attributes) is
		// pushed its FETCH in place; b (a body section) wakes and is
		// pushed it by the woken session; i's first MessageNew MODSEQ
		// turns CONDSTORE on (OK [HIGHESTMODSEQ]): a wake; e in IDLE
		// is told at once.
		{who: "deliver:alice", send: testMessage(3), waitFor: w("r", "ENVELOPE", "b", "BODY[HEADER.FIELDS", "i", "RFC822.SIZE", "e", "RFC822.SIZE")},
		// An APPEND with a flag from another session: i, CONDSTORE on
		// now, is written its FETCH in place too.
		{who: "f", send: appendTo("f1", `(\Flagged) `, 4), waitFor: w("f", "f1 ", "r", "ENVELOPE", "b", "BODY[HEADER.FIELDS", "i", "RFC822.SIZE", "e", "RFC822.SIZE")},
		// A flag change and an expunge from another session.
		{who: "c", send: "c3 STORE 1 +FLAGS (\\Seen)\r\n", waitFor: w("c", "c3 ", "r", "FETCH", "b", "FETCH", "i", "FETCH", "e", "FETCH")},
		{who: "c", send: "c4 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n", waitFor: w("c", "c4 ", "r", "FETCH", "b", "FETCH", "i", "FETCH", "e", "FETCH")},
		{who: "c", send: "c5 EXPUNGE\r\n", waitFor: w("c", "c5 ", "r", "EXPUNGE", "b", "EXPUNGE", "i", "EXPUNGE", "e", "EXPUNGE")},
		// e leaves IDLE (answered asleep): SELECTED-DELAYED holds the
		// next delivery for its NOOP, which tells EXISTS and the
		// FETCH; then a Thunderbird-like UID FETCH after one more.
		{who: "e", send: "DONE\r\n", waitFor: w("e", "e4 ")},
		// b starts an IDLE: the next delivery wakes it in IDLE.
		{who: "b", send: "b4 IDLE\r\n", waitFor: w("b", "+ idling")},
		{who: "deliver:alice", send: testMessage(5), waitFor: w("r", "ENVELOPE", "b", "BODY[HEADER.FIELDS", "i", "RFC822.SIZE")},
		{who: "e", send: "e5 NOOP\r\n", waitFor: w("e", "e5 ")},
		{who: "f", send: appendTo("f2", "", 6), waitFor: w("f", "f2 ", "r", "ENVELOPE", "b", "BODY[HEADER.FIELDS", "i", "RFC822.SIZE")},
		{who: "e", send: "e6 UID FETCH 5:* (FLAGS)\r\n", waitFor: w("e", "e6 ")},
		// A flag change and an expunge of a message told by
		// MessageNew, then two more deliveries in a row.
		{who: "c", send: "c6 STORE 3 +FLAGS.SILENT (\\Deleted)\r\n", waitFor: w("c", "c6 ", "r", "FETCH", "b", "FETCH", "i", "FETCH")},
		{who: "c", send: "c7 EXPUNGE\r\n", waitFor: w("c", "c7 ", "r", "EXPUNGE", "b", "EXPUNGE", "i", "EXPUNGE")},
		// 8-bit header text: under UTF8=ACCEPT i's ENVELOPE quotes it
		// (RFC 6855 3), the others get a literal.
		{who: "deliver:alice", send: strings.Replace(testMessage(7), "Subject: Hello 7", "Subject: Grüße 7", 1), waitFor: w("r", "ENVELOPE", "b", "BODY[HEADER.FIELDS", "i", "RFC822.SIZE")},
		{who: "f", send: appendTo("f3", `(\Answered $Work) `, 8), waitFor: w("f", "f3 ", "r", "ENVELOPE", "b", "BODY[HEADER.FIELDS", "i", "RFC822.SIZE")},
		{who: "b", send: "DONE\r\n", waitFor: w("b", "b4 ")},
		{who: "i", send: "DONE\r\n", waitFor: w("i", "i3 ")},
		{who: "r", send: "r4 FETCH 1:* (UID FLAGS)\r\n", waitFor: w("r", "r4 ")},
		{who: "e", send: "e7 NOOP\r\n", waitFor: w("e", "e7 ")},
		{who: "i", send: "i4 FETCH 1:* (UID FLAGS)\r\n", waitFor: w("i", "i4 ")},
	}
}

// internalDate masks INTERNALDATE: each run's store dates its messages
// by the clock.
var internalDate = regexp.MustCompile(`INTERNALDATE "[^"]*"`)

// withoutInternalDate compares transcripts byte for byte but for the
// INTERNALDATE values.
func withoutInternalDate(s string) string {
	return internalDate.ReplaceAllString(s, `INTERNALDATE "<date>"`)
}

// TestHibernationDifferentialNotifyFetch runs notifyFetchScript with
// hibernation off and after 1 ms: NOTIFY sessions whose MessageNew asks
// for fetch attributes — of the record and the envelope (written asleep),
// a body section and BODYSTRUCTURE (a wake), MODSEQ before CONDSTORE is on
// (a wake, then asleep) — quiet between commands, in IDLE and
// SELECTED-DELAYED, told of deliveries, APPENDs, flag changes and
// expunges from other sessions, hear the same bytes asleep as awake. On
// a server where such sessions stay awake, the run with hibernation
// never sees them all asleep and fails.
func TestHibernationDifferentialNotifyFetch(t *testing.T) {
	checkNotifyFetchDifferential(t, transportPlain)
}

// checkNotifyFetchDifferential is TestHibernationDifferentialNotifyFetch
// over tr.
func checkNotifyFetchDifferential(t *testing.T, tr transport) {
	rng := rand.New(rand.NewPCG(7, 8))
	got, on := compareHibernation(t, tr, notifyFetchClients, notifyFetchScript, rng, rng, withoutInternalDate, "r")
	for _, name := range []string{"r", "b", "i", "e"} {
		if !strings.Contains(on[name], "RFC822.SIZE") && !strings.Contains(on[name], "BODY[HEADER.FIELDS") {
			t.Errorf("client %s was told no MessageNew FETCH:\n%s", name, on[name])
		}
	}
	if got["dormouse_imap_hibernated_served_total,kind=update"] < 10 {
		t.Errorf("served asleep %v updates; want ≥ 10: the MessageNew FETCHes were not written in place",
			got["dormouse_imap_hibernated_served_total,kind=update"])
	}
	if got["dormouse_imap_wakes_total,cause=mailbox"] < 5 {
		t.Errorf("%v mailbox wakes; want ≥ 5: b's body sections were not fetched by a woken session",
			got["dormouse_imap_wakes_total,cause=mailbox"])
	}
	for k, v := range got {
		if strings.Contains(k, "reason=notify_fetch") && v > 0 {
			t.Errorf("%s = %v: a NOTIFY session with fetch attributes was refused hibernation", k, v)
		}
	}
}

// TestNotifyFetchAsleep: a NOTIFY session whose MessageNew asks for
// attributes of the record is told of each delivery asleep — EXISTS and
// the FETCH, with no wake, counted hibernated all along — and one that
// asks for a body section wakes to be told, then sleeps again.
func TestNotifyFetchAsleep(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
	}))
	n := srv.Login(t, srv.Alice)
	mustOK(t, n, "n1 ENABLE IMAP4rev2")
	mustOK(t, n, "n2 SELECT INBOX")
	mustOK(t, n, "n3 NOTIFY SET (SELECTED (MessageNew (UID FLAGS RFC822.SIZE ENVELOPE) MessageExpunge))")
	b := srv.Login(t, srv.Alice)
	mustOK(t, b, "b1 ENABLE IMAP4rev2")
	mustOK(t, b, "b2 EXAMINE INBOX")
	mustOK(t, b, "b3 NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[TEXT]) MessageExpunge))")
	waitAsleep(t, srv, n)
	waitAsleep(t, srv, b)
	since := sessionOf(t, srv, n).Since
	for i := 1; i <= 3; i++ {
		base := testserver.Gather(t, srv.Metrics)
		srv.Deliver(t, "alice", testMessage(i))
		n.Run(fmt.Sprintf("S: * %d EXISTS\n"+`S~ \* %d FETCH \(UID %d FLAGS \(\) RFC822.SIZE \d+ ENVELOPE \(.*"Hello %d".*\)\)`, i, i, i, i))
		b.Run(fmt.Sprintf("S: * %d EXISTS\n"+`S: * %d FETCH (UID %d BODY[TEXT] {14}\r\nHello body %d\r\n)`, i, i, i, i))
		// Between deliveries both are asleep, and n never woke.
		waitAsleep(t, srv, n)
		waitAsleep(t, srv, b)
		testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 2)
		if s := sessionOf(t, srv, n).Since; !s.Equal(since) {
			t.Fatalf("after delivery %d: n slept since %v, then since %v: it woke", i, since, s)
		}
		got := testserver.Gather(t, srv.Metrics)
		if d := got["dormouse_imap_wakes_total,cause=mailbox"] - base["dormouse_imap_wakes_total,cause=mailbox"]; d != 1 {
			t.Errorf("delivery %d: %v mailbox wakes, want 1 (b's)", i, d)
		}
	}
	for k, v := range testserver.Gather(t, srv.Metrics) {
		if strings.HasPrefix(k, "dormouse_imap_hibernation_refused_total") && v > 0 {
			t.Errorf("%s = %v: a session was refused hibernation", k, v)
		}
	}
}
