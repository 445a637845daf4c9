//go:build unix

package imapserver_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestSleeperClosedByClient: a client that closes its connection while
// it sleeps (end of file, or TLS close_notify, as a phone does when its
// network changes) ends it without a wake: no session is restored to
// read the close, the close is counted by how
// (dormouse_imap_hibernated_closed_total), and the connection is gone
// from every gauge. A TLS 1.3 client that sent only its close_notify
// (CloseWrite) hears the server's close_notify back, a clean end.
func TestSleeperClosedByClient(t *testing.T) {
	tls12 := func(t *testing.T, srv *testserver.Server) *testserver.Client {
		cfg := srv.TLS.Clone()
		cfg.MaxVersion = tls.VersionTLS12
		c := imaptest.DialT(t, srv.Addr, imaptest.DialOptions{TLS: cfg})
		c.Login(srv.Alice.Name, srv.Alice.Password)
		return c
	}
	tests := []struct {
		name  string
		tr    transport
		dial  func(*testing.T, *testserver.Server) *testserver.Client // instead of tr.login
		quiet bool                                                    // asleep between commands, not in IDLE
		half  bool                                                    // TLS CloseWrite: close_notify, the socket left open
		how   string
	}{
		{name: "plain idle", tr: transportPlain, how: "eof"},
		{name: "plain quiet", tr: transportPlain, quiet: true, how: "eof"},
		{name: "compress idle", tr: transportCompress, how: "eof"},
		{name: "tls13 idle", tr: transportImplicit, how: "close_notify"},
		{name: "tls13 quiet", tr: transportImplicit, quiet: true, how: "close_notify"},
		{name: "tls13 close_notify only", tr: transportImplicit, half: true, how: "close_notify"},
		{name: "tls13 compress idle", tr: transportTLSCompress, how: "close_notify"},
		{name: "tls12 idle", tr: transportImplicit, dial: tls12, how: "eof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.tr.start(t, func(c *imapserver.Config) { c.HibernateAfter = time.Millisecond })
			var c *testserver.Client
			if tt.dial != nil {
				c = tt.dial(t, srv)
			} else {
				c = tt.tr.login(t, srv, srv.Alice)
			}
			c.Cmd("s SELECT INBOX")
			if !tt.quiet {
				c.Send("i IDLE")
				c.Expect("S: + idling")
			}
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
			// The session may have slept and woken before (quiet after
			// LOGIN, woken by SELECT): only wakes from now count.
			const wakes = "dormouse_imap_wakes_total,cause=client"
			before := testserver.Gather(t, srv.Metrics)[wakes]
			if tt.half {
				tc, ok := c.NetConn().(*tls.Conn)
				if !ok {
					t.Fatalf("connection is a %T, not a *tls.Conn", c.NetConn())
				}
				if err := tc.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				tc.SetReadDeadline(time.Now().Add(testserver.Patience))
				if n, err := tc.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
					t.Fatalf("after close_notify: read %d bytes, %v; want the server's close_notify (EOF)", n, err)
				}
			} else {
				c.Close()
			}
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_hibernated_closed_total,how="+tt.how, 1)
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 0)
			got := testserver.Gather(t, srv.Metrics)
			if got[wakes] != before {
				t.Errorf("%v client wakes after the close, want none", got[wakes]-before)
			}
			for _, k := range []string{
				"dormouse_imap_connections,state=active",
				"dormouse_imap_connections,state=idling",
			} {
				if got[k] != 0 {
					t.Errorf("%s = %v, want 0", k, got[k])
				}
			}
			var closes float64
			for _, how := range []string{"eof", "close_notify", "error"} {
				closes += got["dormouse_imap_hibernated_closed_total,how="+how]
			}
			if closes != 1 {
				t.Errorf("%v closes counted, want 1 (%s)", closes, strconv.Quote(tt.how))
			}
		})
	}
}

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWokenAfterClientReset: a sleeper woken by a command whose client
// reset the connection right after sending it (a process killed with
// unread data, as the fleet's clients at their end) has no peer address
// any more when the session is restored; the session ends quietly
// instead of panicking on the address (seen in bench/fleet as dozens of
// "panic" errors at the end of a run).
func TestWokenAfterClientReset(t *testing.T) {
	var logs lockedBuffer
	srv := testserver.Start(t, testserver.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		testserver.WithConfig(func(c *imapserver.Config) { c.HibernateAfter = time.Millisecond }))
	fill(t, srv, "INBOX", 1)
	for i := range 20 {
		c := srv.Login(t, srv.Alice)
		c.Cmd("s SELECT INBOX")
		c.Send("i IDLE")
		c.Expect("S: + idling")
		testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
		// A command a sleeper cannot answer (a full wake), then a
		// reset: SO_LINGER 0 makes the close send RST.
		c.Write("DONE\r\nf FETCH 1 (FLAGS)\r\n")
		tc := c.NetConn().(*net.TCPConn)
		tc.SetLinger(0)
		tc.Close()
		testserver.WaitFor(t, "connection "+strconv.Itoa(i)+" gone", func() bool {
			m := testserver.Gather(t, srv.Metrics)
			return m["dormouse_imap_connections,state=hibernated"] == 0 && m["dormouse_imap_connections,state=active"] == 0 &&
				m["dormouse_imap_connections,state=idling"] == 0
		})
	}
	if strings.Contains(logs.String(), "msg=panic") {
		t.Fatalf("the server panicked:\n%s", logs.String())
	}
}
