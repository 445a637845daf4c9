package imapserver_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// hopSecret is the proxy secret of the hop tests' servers.
const hopSecret = "hop-secret-0123456789"

// startHop starts a server that accepts a proxy (ProxySecret) and
// hibernates after hibernateAfter (0: never).
func startHop(t *testing.T, hibernateAfter time.Duration) *testserver.Server {
	t.Helper()
	return testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.ProxySecret = hopSecret
		c.HibernateAfter = hibernateAfter
	}))
}

// xproxy connects as a proxy and opens user's session for client.
func xproxy(t *testing.T, srv *testserver.Server, user, client string) *testserver.Client {
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
func readXSleep(t *testing.T, c *testserver.Client) (read int64, blob []byte) {
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
func xresume(t *testing.T, srv *testserver.Server, blob []byte, more string) *testserver.Client {
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
	srv := startHop(t, time.Millisecond)
	fill(t, srv, "INBOX", 3)
	c := xproxy(t, srv, "alice", "192.0.2.7:4711")
	c.MustOK("SELECT INBOX")
	c.Send("i1 IDLE")
	c.Expect("S: + idling")
	read, blob := readXSleep(t, c)
	if read <= 0 {
		t.Errorf("XSLEEP read %d bytes", read)
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
