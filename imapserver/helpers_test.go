package imapserver_test

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// testMessage returns a small message numbered n, CRLF line ends.
func testMessage(n int) string {
	return strings.ReplaceAll(fmt.Sprintf(`From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: Hello %d
Date: Mon, 02 Jan 2006 15:04:05 -0700
Message-ID: <%d@example.org>
Content-Type: text/plain; charset=us-ascii

Hello body %d
`, n, n, n), "\n", "\r\n")
}

// esc writes CRLF as the two characters \r\n, for transcripts.
func esc(s string) string { return strings.ReplaceAll(s, "\r\n", `\r\n`) }

// appendMsg appends msg to mailbox with a synchronizing literal and checks
// the tagged OK.
func appendMsg(t testing.TB, c *testserver.Client, mailbox, flags, msg string) {
	t.Helper()
	if flags != "" {
		flags = "(" + flags + ") "
	}
	st, err := c.CommandLiteral(fmt.Sprintf("APPEND %s %s{%d}", mailbox, flags, len(msg)), []byte(msg), nil)
	if err != nil || !imaptest.IsOK(st) {
		t.Fatalf("APPEND: %q, %v", st, err)
	}
}

// fill appends n test messages to alice's mailbox.
func fill(t testing.TB, srv *testserver.Server, mailbox string, n int) {
	t.Helper()
	c := srv.Login(t, srv.Alice)
	for i := 1; i <= n; i++ {
		appendMsg(t, c, mailbox, "", testMessage(i))
	}
	c.Cmd("lo LOGOUT")
}

// selectInbox logs alice in and selects INBOX, discarding the responses.
func selectInbox(t testing.TB, srv *testserver.Server) *testserver.Client {
	t.Helper()
	c := srv.Login(t, srv.Alice)
	lines := c.Cmd("s0 SELECT INBOX")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "s0 OK") {
		t.Fatalf("SELECT: %q", lines)
	}
	return c
}

// leaveAtFirstStep sends cmd, a long command, on c and closes c's
// connection at the command's first step (conn.interrupted), which waits
// until the server sees the client gone; then it waits until the command
// is counted as interrupted. It returns the count of steps.
func leaveAtFirstStep(t *testing.T, srv *testserver.Server, c *testserver.Client, cmd string) *atomic.Int64 {
	t.Helper()
	var steps atomic.Int64
	started, closed := make(chan struct{}), make(chan struct{})
	imapserver.SetStepHook(srv.IMAP, func(nc net.Conn) {
		if steps.Add(1) != 1 {
			return
		}
		close(started)
		<-closed
		// Wait, generously, until the server's side of the socket shows
		// the client's FIN: the event the next steps must act on.
		if !testserver.Eventually(testserver.Patience, func() bool { return imapserver.PeerClosed(nc) }) {
			t.Error("the server never saw the client close")
		}
	})
	c.Send(cmd)
	select {
	case <-started:
	case <-time.After(testserver.Patience):
		t.Fatal("the command never asked whether its client was still there")
	}
	c.NetConn().Close()
	close(closed)
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_commands_interrupted_total,reason=client", 1)
	return &steps
}
