package imapserver_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// hopSecret is the proxy secret of the hop tests' servers.
const hopSecret = "hop-secret-0123456789"

// startHop starts a server that accepts a proxy (ProxySecret) and
// hibernates after hibernateAfter (0: never), configured further by
// configure (if any).
func startHop(t testing.TB, hibernateAfter time.Duration, configure ...func(*imapserver.Config)) *testserver.Server {
	t.Helper()
	return testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = hibernateAfter
		for _, fn := range configure {
			fn(c)
		}
		c.ProxySecret = hopSecret
	}))
}

// hopQuiet is the hibernate_after of the hop tests that wait for handoffs:
// long enough that a test's next command, sent on reading an answer,
// arrives before the session is handed off even on a loaded machine (a
// command racing the handoff is the proxy's to send again, which these
// raw clients do not do: TestProxyHopDifferential's test proxy does),
// short enough to keep the tests quick.
const hopQuiet = 40 * time.Millisecond

// xproxy connects as a proxy and opens user's session for client.
func xproxy(t testing.TB, srv *testserver.Server, user, client string) *testserver.Client {
	t.Helper()
	c := srv.Dial(t)
	lines := c.Cmd("X1 XPROXY " + hopSecret + " " + user + " " + client)
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "X1 OK [CAPABILITY ") {
		t.Fatalf("XPROXY: %q", lines)
	}
	return c
}

// readXSleep reads a handoff, "* XSLEEP <read> {n}" and its blob, and
// checks that the server then closes the connection.
func readXSleep(t testing.TB, c *testserver.Client) (read int64, blob []byte) {
	t.Helper()
	l := readSkipping(c)
	head, data, ok := strings.Cut(l, "\r\n")
	var n int
	if ok {
		_, err := fmt.Sscanf(head, "* XSLEEP %d {%d}", &read, &n)
		ok = err == nil && n == len(data)
	}
	if !ok {
		t.Fatalf("want * XSLEEP <read> {n} and the blob, got %q", l)
	}
	if rest := c.ExpectClosed(); len(rest) > 0 {
		t.Fatalf("after XSLEEP: %q, want the connection closed", rest)
	}
	return read, []byte(data)
}

// xresume connects as a proxy and writes XRESUME with blob, then more (the
// client's bytes the proxy sends on at once).
func xresume(t testing.TB, srv *testserver.Server, blob []byte, more string) *testserver.Client {
	t.Helper()
	c := srv.Dial(t)
	c.Write("X2 XRESUME " + hopSecret + " 192.0.2.7:4711 {" + strconv.Itoa(len(blob)) + "+}\r\n" + string(blob) + "\r\n" + more)
	return c
}

// TestProxyHopIdle: a proxied session in IDLE hands off to its proxy
// (XSLEEP, the connection closed, nothing held), the mailbox changes
// meanwhile, and XRESUME on a new connection tells the client exactly
// what an IDLE sleeper woken then would be told, after "X2 OK resumed".
func TestProxyHopIdle(t *testing.T) {
	srv := startHop(t, hopQuiet)
	fill(t, srv, "INBOX", 3)
	c := xproxy(t, srv, "alice", "192.0.2.7:4711")
	c.Send("s1 SELECT INBOX")
	c.ReadUntilTagged("s1")
	c.Send("i1 IDLE")
	c.Expect("S: + idling")
	read, blob := readXSleep(t, c)
	// Every byte the proxy wrote was read: the count says so.
	if sent := len("X1 XPROXY " + hopSecret + " alice 192.0.2.7:4711\r\ns1 SELECT INBOX\r\ni1 IDLE\r\n"); read != int64(sent) {
		t.Errorf("XSLEEP says %d bytes read, the proxy wrote %d", read, sent)
	}
	testserver.WaitFor(t, "no session held after the handoff", func() bool { return len(srv.IMAP.Sessions()) == 0 })
	m := testserver.Gather(t, srv.Metrics)
	if m["dormouse_imap_proxy_handoffs_total"] != 1 || m["dormouse_imap_connections,state=hibernated"] != 0 || m["dormouse_imap_hibernations_total"] != 0 {
		t.Errorf("metrics after the handoff: %v", m)
	}

	// Changes while the client sleeps at the proxy.
	o := srv.Login(t, srv.Alice)
	o.MustOK("SELECT INBOX")
	o.MustOK("STORE 1 +FLAGS (\\Flagged)")
	o.MustOK("STORE 2 +FLAGS.SILENT (\\Deleted)")
	o.MustOK("EXPUNGE")
	srv.Deliver(t, "alice", testMessage(4))
	testserver.WaitFor(t, "the delivery is in the store", func() bool {
		lines := o.MustOK("NOOP")
		return strings.Contains(strings.Join(lines, "\n"), "EXISTS")
	})
	o.MustOK("LOGOUT")

	r := xresume(t, srv, blob, "")
	r.Expect(
		"S: X2 OK resumed",
		"S: * 2 EXPUNGE",
		"S: * 3 EXISTS",
		"S: * 2 RECENT", // 1 and 3, as before; o's NOOP claimed 4
		`S: * 1 FETCH (UID 1 FLAGS (\Flagged \Recent))`,
	)
	// The resumed IDLE hands off again once quiet.
	_, blob2 := readXSleep(t, r)
	r2 := xresume(t, srv, blob2, "DONE\r\ni2 FETCH 1:* (FLAGS)\r\n")
	r2.Run(`
S: X2 OK resumed
S: i1 OK IDLE terminated
S: * 1 FETCH (FLAGS (\Flagged \Recent))
S: * 2 FETCH (FLAGS (\Recent))
S: * 3 FETCH (FLAGS ())
S: i2 OK FETCH completed
`)
	m = testserver.Gather(t, srv.Metrics)
	if m["dormouse_imap_proxy_resumes_total,state=idle"] != 2 || m["dormouse_imap_proxy_handoffs_total"] != 2 {
		t.Errorf("metrics: %v", m)
	}
}

// TestProxyHopQuiet: a proxied session quiet between commands hands off
// too; resumed, it says nothing but "OK resumed" (it hands off again at
// once: no update comes first), and its next command gets the changes
// held for it, as a quiet sleeper's does.
func TestProxyHopQuiet(t *testing.T) {
	srv := startHop(t, hopQuiet)
	fill(t, srv, "INBOX", 2)
	c := xproxy(t, srv, "alice", "192.0.2.7:4711")
	c.Send("s1 SELECT INBOX")
	c.ReadUntilTagged("s1")
	// A command the proxy forwards once the backend decided to hand off
	// is never read nor run: the count tells the proxy to send it again.
	l := readSkipping(c)
	if !strings.HasPrefix(l, "* XSLEEP "+strconv.Itoa(len("X1 XPROXY "+hopSecret+" alice 192.0.2.7:4711\r\ns1 SELECT INBOX\r\n"))+" {") {
		t.Fatalf("got %q, want * XSLEEP counting the bytes before it", l)
	}
	c.Write("n0 NOOP\r\n")
	if rest := c.ExpectClosed(); len(rest) > 0 {
		t.Fatalf("after XSLEEP: %q, want the connection closed", rest)
	}
	_, blob, _ := strings.Cut(l, "\r\n")

	srv.Deliver(t, "alice", testMessage(3))
	o := srv.Login(t, srv.Alice)
	o.MustOK("SELECT INBOX")
	// The delivery is seen through the folder's watch, which may outlive
	// the handed-off session (its linger): wait until the store has it,
	// so that the resumed session's NOOP below must tell it.
	testserver.WaitFor(t, "the delivery is seen", func() bool {
		o.Cmd("n NOOP")
		return len(o.Cmd("f FETCH 3 UID")) == 2
	})
	o.MustOK("STORE 1 +FLAGS (\\Seen)")
	o.MustOK("LOGOUT")

	// Resumed between commands: nothing is said before the handoff.
	r := xresume(t, srv, []byte(blob), "")
	r.Expect("S: X2 OK resumed")
	_, b := readXSleep(t, r)
	// A command resumes it and gets what changed.
	r = xresume(t, srv, b, "n1 NOOP\r\n")
	r.Run(`
S: X2 OK resumed
S: * 3 EXISTS
S: * 2 RECENT
S: * 1 FETCH (UID 1 FLAGS (\Seen \Recent))
S: n1 OK NOOP completed
`)
	m := testserver.Gather(t, srv.Metrics)
	if m["dormouse_imap_proxy_resumes_total,state=between"] != 2 {
		t.Errorf("resumes between commands = %v, want 2", m["dormouse_imap_proxy_resumes_total,state=between"])
	}
}

// editBlob decodes a state blob, lets fn change it and encodes it again.
func editBlob(t *testing.T, blob []byte, fn func(*hibernate.State)) []byte {
	t.Helper()
	var st hibernate.State
	if err := st.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	fn(&st)
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProxyHopRefusals: XRESUME checks its blob as untrusted input, and
// each refusal is a tagged NO (with the words a woken sleeper would say
// in its BYE) after which the connection is usable, not authenticated.
func TestProxyHopRefusals(t *testing.T) {
	srv := startHop(t, hopQuiet)
	fill(t, srv, "INBOX", 1)
	c := xproxy(t, srv, "alice", "192.0.2.7:4711")
	c.MustOK("CREATE Gone")
	c.Send("s1 SELECT INBOX")
	c.ReadUntilTagged("s1")
	_, blob := readXSleep(t, c)
	c = xproxy(t, srv, "alice", "192.0.2.7:4711")
	c.Send("s2 SELECT Gone")
	c.ReadUntilTagged("s2")
	_, goneBlob := readXSleep(t, c)
	o := srv.Login(t, srv.Alice)
	o.MustOK("DELETE Gone")

	for _, tc := range []struct {
		name, want, reason string
		blob               []byte
	}{
		{"garbage", "X2 NO [CANNOT] Invalid state blob", "blob", []byte("\x01garbage")},
		{"empty", "X2 NO [CANNOT] Invalid state blob", "blob", nil},
		{"truncated", "X2 NO [CANNOT] Invalid state blob", "blob", blob[:len(blob)/2]},
		{"unknown user", "X2 NO [AUTHENTICATIONFAILED] Unknown user", "user",
			editBlob(t, blob, func(st *hibernate.State) { st.User = "carol" })},
		{"compressed", "X2 NO [CANNOT] State blob with TLS or COMPRESS state: those end at the proxy", "transport",
			editBlob(t, blob, func(st *hibernate.State) {
				st.ExtState = append(st.ExtState, hibernate.ExtState{Kind: hibernate.ExtDeflateWindow, Data: []byte{0, 'a'}})
			})},
		{"uidvalidity", "X2 NO [CANNOT] Mailbox UIDVALIDITY changed, reselect", "uidvalidity",
			editBlob(t, blob, func(st *hibernate.State) { st.UIDValidity++ })},
		{"UIDs the mailbox never had", "X2 NO [CANNOT] Invalid state blob", "blob",
			editBlob(t, blob, func(st *hibernate.State) {
				st.UIDs = []hibernate.UIDRange{{First: 1, Last: 0xedededed}}
				st.Messages, st.UIDNext = 0xedededed, 0xedededee
			})},
		{"mailbox deleted", "X2 NO [NONEXISTENT] Selected mailbox was deleted, have to disconnect", "mailbox", goneBlob},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := xresume(t, srv, tc.blob, "")
			if got := readSkipping(r); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// Not authenticated: the connection is usable, nothing more.
			r.Run(`
C: n1 SELECT INBOX
S: n1 BAD SELECT not allowed before authentication
C: n2 NOOP
S: n2 OK NOOP completed
`)
			m := testserver.Gather(t, srv.Metrics)
			if m["dormouse_imap_proxy_resume_refused_total,reason="+tc.reason] == 0 {
				t.Errorf("refusal not counted under %q", tc.reason)
			}
		})
	}

	// A wrong secret is a failed login, with its pause and penalty.
	r := srv.Dial(t)
	r.Write("X3 XRESUME wrong-secret-0123456789 {" + strconv.Itoa(len(blob)) + "+}\r\n" + string(blob) + "\r\n")
	r.Expect("S: X3 NO [AUTHENTICATIONFAILED] Invalid proxy secret")
	r.Run(`
C: X4 XPROXY wrong-secret-0123456789 alice 192.0.2.7
S: X4 NO [AUTHENTICATIONFAILED] Invalid proxy secret
C: X5 XPROXY ` + hopSecret + ` carol 192.0.2.7
S: X5 NO [AUTHENTICATIONFAILED] Unknown user
C: X6 XPROXY ` + hopSecret + ` alice not-an-address
S: X6 BAD Invalid client address
`)
	// Sent in one write: a quiet moment after X7's OK would hand the
	// session off (hibernate_after is 1 ms here) before X8 is read.
	r.Write("X7 XPROXY " + hopSecret + " alice 192.0.2.7\r\n" +
		"X8 XRESUME " + hopSecret + " {3+}\r\nabc\r\n" +
		"X9 XPROXY " + hopSecret + " alice 192.0.2.7\r\n")
	r.Run(`
S~ X7 OK \[CAPABILITY .*\] Logged in
S: X8 BAD Already authenticated
S: X9 BAD Already authenticated
`)
	m := testserver.Gather(t, srv.Metrics)
	if m["dormouse_imap_logins_total,result=failed"] < 2 || m["dormouse_imap_proxy_resume_refused_total,reason=secret"] != 1 {
		t.Errorf("failed logins %v, secret refusals %v; want ≥ 2 and 1",
			m["dormouse_imap_logins_total,result=failed"], m["dormouse_imap_proxy_resume_refused_total,reason=secret"])
	}
}

// TestProxyHopNoSecret: without a proxy secret XPROXY and XRESUME are
// unknown commands, answered as any unknown command is (their literal
// refused unread), and CAPABILITY does not name them.
func TestProxyHopNoSecret(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Dial(t)
	c.Run(`
C: u1 FOO bar
S: u1 BAD unknown command "FOO"
C: u2 XPROXY ` + hopSecret + ` alice 192.0.2.7
S: u2 BAD unknown command "XPROXY"
C: u3 XRESUME ` + hopSecret + ` {3+}
C: abc
S: u3 BAD unknown command "XRESUME"
C: u4 CAPABILITY
S~ \* CAPABILITY .*
S: u4 OK CAPABILITY completed
`)
	if strings.Contains(c.Greeting, "XPROXY") || strings.Contains(c.Greeting, "XRESUME") {
		t.Errorf("greeting names the hop's commands: %q", c.Greeting)
	}
	l := srv.Login(t, srv.Alice)
	lines := l.MustOK("CAPABILITY")
	if strings.Contains(strings.Join(lines, "\n"), "XPROXY") {
		t.Errorf("CAPABILITY names XPROXY: %q", lines)
	}
	// A started server with a secret does not list them either.
	hop := startHop(t, 0)
	h := hop.Dial(t)
	for _, l := range append(h.MustOK("CAPABILITY"), h.Greeting) {
		if strings.Contains(l, "XPROXY") || strings.Contains(l, "XRESUME") || strings.Contains(l, "XSLEEP") {
			t.Errorf("capabilities name the hop: %q", l)
		}
	}
}

// TestProxyHopUserLimits: XPROXY counts the session against the client's
// address, not the proxy's: max_connections_per_user_addr refuses the
// second session of one client, not a session of another client behind
// the same proxy.
func TestProxyHopUserLimits(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.ProxySecret = hopSecret
		c.Limits.MaxConnsPerUserAddr = 1
	}))
	xproxy(t, srv, "alice", "192.0.2.7:1000")
	c := srv.Dial(t)
	c.Run(`
C: X1 XPROXY ` + hopSecret + ` alice 192.0.2.7:1001
S: X1 NO [UNAVAILABLE] Maximum number of connections from user+IP exceeded (max_connections_per_user_addr=1)
`)
	xproxy(t, srv, "alice", "192.0.2.8:1000")
	var clients []string
	for _, s := range srv.IMAP.Sessions() {
		if s.User == "alice" {
			clients = append(clients, s.Remote)
		}
	}
	if strings.Join(clients, " ") != "192.0.2.7:1000 192.0.2.8:1000" {
		t.Errorf("who shows %q, want the client addresses", clients)
	}
}

// TestProxyHopDifferential runs the differential scripts of the
// hibernation tests (TestHibernationDifferential and its quiet, search
// context and fast variants: IDLE and quiet sessions, rev1 and
// rev2, CONDSTORE and QRESYNC, deliveries, APPENDs, flag changes and
// expunges, steps racing the hibernation) straight to a server that
// never hibernates, and through a test proxy (hopProxy) to a server
// whose sessions hand off after 1 ms, at every quiet point, and are
// resumed on each client command and each change of an IDLE sleeper's
// mail: every client's transcript must be the same (byte for byte; the
// fast script's after its own canonical form, as in its own test).
func TestProxyHopDifferential(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed of the fast script's quick steps: %d", seed)
	for _, tc := range []struct {
		name    string
		clients []hibClient
		script  func() []hibStep
		canon   func(string) string
		seed    uint64
		resumes bool // IDLE resumes expected too
	}{
		{"idle", hibClients, hibScript, asSent, 1, true},
		{"quiet", quietClients, quietScript, asSent, 3, false},
		{"context", contextClients, contextScript, asSent, 5, true},
		// Not notifyScript: its sessions watch other mailboxes and stay
		// awake (TestProxyHopNotifyStaysAwake).
		{"fast", fastClients, fastScript, canonical, seed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			off, _ := runHibScriptOver(t, transportPlain, 0, tc.clients, tc.script(), rand.New(rand.NewPCG(tc.seed, 1)))
			on, srv := runHibScriptOver(t, transportProxy, time.Millisecond, tc.clients, tc.script(), rand.New(rand.NewPCG(tc.seed, 1)))
			for _, hc := range tc.clients {
				if tc.canon(off[hc.name]) != tc.canon(on[hc.name]) {
					t.Errorf("client %s: transcripts differ\n--- direct, hibernation off\n%s--- through the proxy, handing off\n%s", hc.name, off[hc.name], on[hc.name])
				}
			}
			m := testserver.Gather(t, srv.Metrics)
			idle, between := m["dormouse_imap_proxy_resumes_total,state=idle"], m["dormouse_imap_proxy_resumes_total,state=between"]
			t.Logf("handoffs %v, resumes in IDLE %v, between commands %v, refused %v",
				m["dormouse_imap_proxy_handoffs_total"], idle, between, refusals(m))
			if m["dormouse_imap_proxy_handoffs_total"] < 5 || between == 0 || tc.resumes && idle == 0 {
				t.Errorf("the script did not exercise the hop: %v", m)
			}
			if m["dormouse_imap_hibernations_total"] != 0 {
				t.Errorf("%v sessions slept at the backend", m["dormouse_imap_hibernations_total"])
			}
		})
	}
}

// refusals returns the hibernation refusals of metrics m, by reason.
func refusals(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if r, ok := strings.CutPrefix(k, "dormouse_imap_hibernation_refused_total,reason="); ok && v > 0 {
			out[r] = v
		}
	}
	return out
}

// TestProxyHopResumesEveryState: a blob of each state a session can hand
// off in resumes with it: IDLE or between commands, authenticated only,
// read-only, its saved search.
func TestProxyHopResumesEveryState(t *testing.T) {
	srv := startHop(t, hopQuiet)
	fill(t, srv, "INBOX", 3)
	blobs := hopBlobs(t, srv)
	checks := map[string]string{
		"idle":      "DONE\r\nc1 FETCH 1 (FLAGS)\r\n",
		"quiet":     "c1 FETCH 1 (FLAGS)\r\n",
		"auth":      "c1 SELECT INBOX\r\n",
		"condstore": "c1 STORE 1 +FLAGS (\\Seen)\r\n", // EXAMINEd: read-only
		"qresync":   "c1 EXPUNGE\r\n",
		"searchres": "c1 FETCH $ (UID)\r\n",
		"context":   "c1 NOOP\r\n",
		"notify":    "c1 NOOP\r\n",
	}
	want := map[string]string{
		"idle":      `X2 OK resumed|i OK IDLE terminated|* 1 FETCH (FLAGS (|c1 OK FETCH completed`,
		"quiet":     `X2 OK resumed|* 1 FETCH (FLAGS (|c1 OK FETCH completed`,
		"auth":      `X2 OK resumed|* FLAGS`,
		"condstore": `X2 OK resumed|i OK IDLE terminated|c1 NO [CANNOT] Mailbox is read-only`,
		"qresync":   `X2 OK resumed|c1 OK EXPUNGE completed`,
		"searchres": `X2 OK resumed|* 1 FETCH (UID 1)|* 2 FETCH (UID 2)|* 3 FETCH (UID 3)|c1 OK FETCH completed`,
		"context":   `X2 OK resumed|c1 OK NOOP completed`,
		"notify":    `X2 OK resumed|c1 OK NOOP completed`,
	}
	for name, blob := range blobs {
		t.Run(name, func(t *testing.T) {
			more := checks[name]
			if name == "condstore" {
				more = "DONE\r\n" + more
			}
			r := xresume(t, srv, blob, more)
			var got []string
			for _, w := range strings.Split(want[name], "|") {
				l := readSkipping(r)
				got = append(got, l)
				if !strings.HasPrefix(l, w) {
					t.Fatalf("got %q, want a line starting %q", got, w)
				}
			}
		})
	}
}

// TestProxyHopNotifyStaysAwake: a proxied session whose NOTIFY watches
// other mailboxes does not hand off (their events would fall between the
// handoff and the resume: nothing keeps them for it); the refusal is
// counted, and its events keep coming.
func TestProxyHopNotifyStaysAwake(t *testing.T) {
	srv := startHop(t, hopQuiet)
	c := xproxy(t, srv, "alice", "192.0.2.7:4711")
	c.Send("s1 SELECT INBOX")
	c.ReadUntilTagged("s1")
	_, blob := readXSleep(t, c) // without NOTIFY it hands off
	c = xresume(t, srv, blob, "n1 NOTIFY SET (personal (MessageNew MessageExpunge))\r\n")
	c.Expect("S: X2 OK resumed", "S: n1 OK NOTIFY completed")
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_hibernation_refused_total,reason=hop_notify", 1)
	o := srv.Login(t, srv.Alice)
	appendMsg(t, o, "Archive", "", testMessage(1))
	c.Expect(`S~ \* STATUS Archive \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)`)
}

// TestProxyHopUpgrade: an upgrade (Server.Handover) hands proxied
// sessions, quiet or in IDLE, to their proxy (* XSLEEP) rather than to
// the new process, and waits for none of them: the proxy resumes them
// on whichever process then listens.
func TestProxyHopUpgrade(t *testing.T) {
	srv := startHop(t, time.Hour)
	quiet := xproxy(t, srv, "alice", "192.0.2.7:1")
	quiet.MustOK("SELECT INBOX")
	idle := xproxy(t, srv, "alice", "192.0.2.7:2")
	idle.MustOK("SELECT INBOX")
	idle.Send("i1 IDLE")
	idle.Expect("S: + idling")

	var got handedOver
	ctx, cancel := context.WithTimeout(context.Background(), testserver.Patience)
	defer cancel()
	if r := srv.IMAP.Handover(ctx, got.send); r.Moved != 0 || len(r.NotMoved) != 0 {
		t.Errorf("handover result %+v, want nothing moved or left", r)
	}
	if ctx.Err() != nil {
		t.Fatal("Handover waited for its grace to end")
	}
	_, qb := readXSleep(t, quiet)
	_, ib := readXSleep(t, idle)
	for _, b := range [][]byte{qb, ib} {
		var st hibernate.State
		if err := st.UnmarshalBinary(b); err != nil || st.Mailbox != "INBOX" {
			t.Errorf("blob %+v, %v", st, err)
		}
	}
}
