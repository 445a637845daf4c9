package imapserver_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// transport is how a test's clients reach the server.
type transport int

const (
	transportPlain           transport = iota
	transportImplicit                  // TLS from the first byte (RFC 8314)
	transportStartTLS                  // plain, upgraded with STARTTLS before LOGIN
	transportCompress                  // plain, COMPRESS DEFLATE after LOGIN
	transportTLSCompress               // implicit TLS, COMPRESS DEFLATE after LOGIN
	transportCompressPartial           // plain, COMPRESS DEFLATE, the client flushing as zlib's Z_PARTIAL_FLUSH (mbsync)
	transportProxy                     // plain, through a test proxy of the proxy hop (proxyhop_proxy_test.go)
)

func (tr transport) String() string {
	return [...]string{"plain", "implicit", "starttls", "compress", "tls+compress", "compress-partial", "proxy"}[tr]
}

// start starts a server that clients reach over tr.
func (tr transport) start(t *testing.T, configure func(*imapserver.Config)) *testserver.Server {
	t.Helper()
	if tr == transportProxy {
		return startHop(t, 0, configure)
	}
	opts := []testserver.Option{testserver.WithConfig(configure)}
	if tr != transportPlain && tr != transportCompress && tr != transportCompressPartial {
		opts = append(opts, testserver.WithTLS(tr == transportImplicit || tr == transportTLSCompress))
	}
	return testserver.Start(t, opts...)
}

// login connects over tr and logs u in.
func (tr transport) login(t testing.TB, srv *testserver.Server, u testserver.User) *testserver.Client {
	t.Helper()
	var c *testserver.Client
	switch tr {
	case transportPlain:
		return srv.Login(t, u)
	case transportProxy:
		return imaptest.DialT(t, startHopProxy(t, srv, u.Name), imaptest.DialOptions{})
	case transportCompress:
		c = srv.Login(t, u)
		compress(t, c)
		return c
	case transportCompressPartial:
		c = srv.Login(t, u)
		lines := c.Cmd("Z0 COMPRESS DEFLATE")
		if last := lines[len(lines)-1]; last != "Z0 OK DEFLATE active" {
			t.Fatalf("COMPRESS DEFLATE: %s", last)
		}
		c.CompressPartialFlush()
		return c
	case transportImplicit, transportTLSCompress:
		c = srv.DialTLS(t)
	case transportStartTLS:
		c = srv.Dial(t)
		c.Send("T0 STARTTLS")
		c.Expect("S: T0 OK Begin TLS negotiation now")
		c.StartTLS(srv.TLS)
	}
	lines := c.Cmd("L0 LOGIN " + u.Name + " " + strconv.Quote(u.Password))
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "L0 OK") {
		t.Fatalf("login %s over %v: %s", u.Name, tr, last)
	}
	if tr == transportTLSCompress {
		compress(t, c)
	}
	return c
}

// compress turns on COMPRESS DEFLATE on a logged-in connection.
func compress(t testing.TB, c *testserver.Client) {
	t.Helper()
	lines := c.Cmd("Z0 COMPRESS DEFLATE")
	if last := lines[len(lines)-1]; last != "Z0 OK DEFLATE active" {
		t.Fatalf("COMPRESS DEFLATE: %s", last)
	}
	c.Compress()
}

// fillOver is fill over tr.
func fillOver(t testing.TB, srv *testserver.Server, tr transport, mailbox string, n int) {
	t.Helper()
	c := tr.login(t, srv, srv.Alice)
	for i := 1; i <= n; i++ {
		appendMsg(t, c, mailbox, "", testMessage(i))
	}
	c.Cmd("lo LOGOUT")
}

// readSkipping reads the next line that is not an IDLE keepalive.
func readSkipping(c *testserver.Client) string {
	for {
		if l := c.ReadLine(); l != "* OK Still here" {
			return l
		}
	}
}

// expectSkipping reads lines (keepalives skipped) and checks each in turn.
func expectSkipping(t *testing.T, c *testserver.Client, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := readSkipping(c); got != w {
			t.Fatalf("got %q, want %q", got, w)
		}
	}
}

// TestHibernationTLS checks that TLS connections, implicit and after
// STARTTLS, really sleep (the hibernated gauge; no full wake counted)
// and are served asleep: keepalives, a delivery and a re-IDLE, all
// through their tls.Conn. A lone DONE is answered asleep too; the
// command after it wakes the session fully, which goes on over the same
// TLS connection; at shutdown a sleeper hears BYE.
func TestHibernationTLS(t *testing.T) {
	for _, tr := range []transport{transportImplicit, transportStartTLS} {
		t.Run(tr.String(), func(t *testing.T) {
			srv := tr.start(t, func(c *imapserver.Config) {
				c.HibernateAfter = time.Millisecond
				c.IdleKeepalive = time.Second
			})
			fillOver(t, srv, tr, "INBOX", 1)
			c := tr.login(t, srv, srv.Alice)
			c.Timeout = 5 * time.Second
			// SELECT and IDLE in one write: no quiet sleep between them
			// (a slow machine could take 1 ms), so the IDLE is not
			// answered asleep and the counts below are the test's.
			c.Write("s SELECT INBOX\r\ni IDLE\r\n")
			for l := c.ReadLine(); l != "+ idling"; l = c.ReadLine() {
			}
			hibernated := "dormouse_imap_connections,state=hibernated"
			testserver.WaitMetric(t, srv.Metrics, hibernated, 1)
			// The filling session may have slept between its commands
			// and woken for the next: counts start from here.
			base := testserver.Gather(t, srv.Metrics)
			wakes := func(got map[string]float64) float64 {
				return got["dormouse_imap_wakes_total,cause=client"] + got["dormouse_imap_wakes_total,cause=mailbox"] -
					base["dormouse_imap_wakes_total,cause=client"] - base["dormouse_imap_wakes_total,cause=mailbox"]
			}
			asleep := func(step string) {
				t.Helper()
				got := testserver.Gather(t, srv.Metrics)
				if got[hibernated] != 1 || wakes(got) != 0 {
					t.Fatalf("after %s: hibernated = %v, wakes = %v, want 1 and none", step, got[hibernated], got)
				}
			}

			// The keepalive goes out through the sleeper's tls.Conn.
			c.Expect("S: * OK Still here")
			asleep("keepalive")

			srv.Deliver(t, "alice", testMessage(2))
			expectSkipping(t, c, "* 2 EXISTS", "* 2 RECENT")
			asleep("delivery")
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_hibernated_served_total,kind=update", 1)

			// DONE and a new IDLE in one record: answered asleep.
			c.Write("DONE\r\ni2 IDLE\r\n")
			expectSkipping(t, c, "i OK IDLE terminated", "+ idling")
			// The count follows the answer's write: wait for it.
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_hibernated_served_total,kind=reidle", 1)
			asleep("re-IDLE")

			// A lone DONE, answered asleep, and a NOOP after it too; a
			// FETCH wakes the session fully, on the same tls.Conn.
			c.Send("DONE")
			expectSkipping(t, c, "i2 OK IDLE terminated")
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_hibernated_served_total,kind=reidle", 2)
			c.Send("n NOOP")
			expectSkipping(t, c, "n OK NOOP completed")
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_hibernated_served_total,kind=command", 1)
			got := testserver.Gather(t, srv.Metrics)
			if got["dormouse_imap_hibernated_served_total,kind=reidle"] != 2 || wakes(got) != 0 {
				t.Errorf("after DONE and NOOP: served asleep %v, wakes %v; want 2 and 0",
					got["dormouse_imap_hibernated_served_total,kind=reidle"], wakes(got))
			}
			if got := c.Cmd("f FETCH 1 (FLAGS)"); !strings.HasPrefix(got[len(got)-1], "f OK FETCH completed") {
				t.Fatalf("FETCH: %q", got)
			}
			if got := testserver.Gather(t, srv.Metrics); wakes(got) != 1 {
				t.Errorf("wakes = %v, want 1", wakes(got))
			}

			// Asleep again (quiet after the FETCH, or in IDLE); the
			// server shuts down: BYE through TLS.
			c.Send("i3 IDLE")
			expectSkipping(t, c, "+ idling")
			testserver.WaitMetric(t, srv.Metrics, hibernated, 1)
			srv.Close()
			expectSkipping(t, c, "* BYE Server shutting down")
			if got := testserver.Gather(t, srv.Metrics)[hibernated]; got != 0 {
				t.Errorf("hibernated = %v after shutdown, want 0", got)
			}
			if got := testserver.Gather(t, srv.Metrics)["dormouse_imap_hibernations_total"] - base["dormouse_imap_hibernations_total"]; got != 1 {
				t.Errorf("hibernations = %v, want 1 after the first", got)
			}
		})
	}
}

// TestHibernationDifferentialTLS runs the differential scripts over
// implicit TLS and after STARTTLS: with hibernation off and after 1 ms, no
// client may see a difference, as over plain TCP.
func TestHibernationDifferentialTLS(t *testing.T) {
	for _, tr := range []transport{transportImplicit, transportStartTLS} {
		t.Run(tr.String()+"/script", func(t *testing.T) { checkDifferential(t, tr) })
		t.Run(tr.String()+"/fast", func(t *testing.T) { checkFastDifferential(t, tr) })
		t.Run(tr.String()+"/quiet", func(t *testing.T) { checkQuietDifferential(t, tr) })
		t.Run(tr.String()+"/context", func(t *testing.T) { checkContextDifferential(t, tr) })
		t.Run(tr.String()+"/notify", func(t *testing.T) { checkNotifyDifferential(t, tr) })
		t.Run(tr.String()+"/notifyfetch", func(t *testing.T) { checkNotifyFetchDifferential(t, tr) })
	}
}
