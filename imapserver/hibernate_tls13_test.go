//go:build unix

package imapserver_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// keptConn sums the TLS sleepers that kept their tls.Conn, by reason.
func keptConn(got map[string]float64) map[string]float64 {
	out := map[string]float64{}
	const prefix = "dormouse_imap_hibernation_tls_kept_conn_total,reason="
	for k, v := range got {
		if r, ok := strings.CutPrefix(k, prefix); ok && v > 0 {
			out[r] = v
		}
	}
	return out
}

// TestTLS13SleeperCycles runs 100 hibernate/wake cycles on one TLS 1.3
// connection (implicit, after STARTTLS, with COMPRESS): each sleeps in
// IDLE on its record state alone (none keeps its tls.Conn), is told of
// a delivery asleep (sealed with the blob's next sequence number),
// answers DONE asleep, and wakes for a FETCH whose data is checked; the
// session runs on the record layer after the first wake and sleeps
// again from it.
func TestTLS13SleeperCycles(t *testing.T) {
	for _, tt := range []struct {
		tr     transport
		cycles int
		label  string
	}{
		{transportImplicit, 100, "tls13"},
		{transportStartTLS, 30, "tls13"},
		{transportTLSCompress, 30, "tls13+compressed"},
	} {
		t.Run(tt.tr.String(), func(t *testing.T) {
			srv := tt.tr.start(t, func(c *imapserver.Config) {
				c.HibernateAfter = time.Millisecond
			})
			c := tt.tr.login(t, srv, srv.Alice)
			c.Timeout = 10 * time.Second
			c.Cmd("s SELECT INBOX")
			hibernations := "dormouse_imap_hibernations_by_transport_total,transport=" + tt.label
			for i := 1; i <= tt.cycles; i++ {
				c.Send(fmt.Sprintf("i%d IDLE", i))
				c.Expect("S: + idling")
				// Asleep: gone to sleep in IDLE, or asleep since the
				// FETCH (quiet) and the IDLE answered asleep.
				testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
				if n := len(imapserver.TLSSleepers(srv.IMAP)); n != 0 {
					t.Fatalf("cycle %d: %d sleepers hold a tls.Conn, want none", i, n)
				}
				srv.Deliver(t, "alice", testMessage(i))
				if got := readSkipping(c); got != fmt.Sprintf("* %d EXISTS", i) {
					t.Fatalf("cycle %d: %q, want EXISTS", i, got)
				}
				c.Send("DONE")
				for {
					l := readSkipping(c)
					if l == fmt.Sprintf("i%d OK IDLE terminated", i) {
						break
					}
					if !strings.HasSuffix(l, " RECENT") {
						t.Fatalf("cycle %d: %q", i, l)
					}
				}
				lines := c.Cmd(fmt.Sprintf("f%d FETCH %d (BODY.PEEK[TEXT])", i, i))
				if want := fmt.Sprintf("Hello body %d", i); !strings.Contains(strings.Join(lines, "\n"), want) ||
					lines[len(lines)-1] != fmt.Sprintf("f%d OK FETCH completed", i) {
					t.Fatalf("cycle %d: FETCH %q, want %q", i, lines, want)
				}
			}
			got := testserver.Gather(t, srv.Metrics)
			if k := keptConn(got); len(k) > 0 {
				t.Errorf("sleepers kept their tls.Conn: %v", k)
			}
			if got[hibernations] < float64(tt.cycles) || got["dormouse_imap_wakes_total,cause=client"] < float64(tt.cycles) {
				t.Errorf("%v hibernations, %v client wakes; want %d each at least", got[hibernations], got["dormouse_imap_wakes_total,cause=client"], tt.cycles)
			}
			c.Cmd("l LOGOUT")
		})
	}
}

// TestTLS13SleeperLargeRecord: while asleep, the client sends one record
// of 16 KiB (a long command): the sleeper reads its start, cannot open
// it, and hands it to the woken session's record layer, which reads the
// rest; the command is answered and the session sleeps again.
func TestTLS13SleeperLargeRecord(t *testing.T) {
	srv := transportImplicit.start(t, func(c *imapserver.Config) { c.HibernateAfter = time.Millisecond })
	fillOver(t, srv, transportImplicit, "INBOX", 2)
	c := transportImplicit.login(t, srv, srv.Alice)
	c.Timeout = 10 * time.Second
	c.Cmd("s SELECT INBOX")
	c.Send("i IDLE")
	c.Expect("S: + idling")
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	if n := len(imapserver.TLSSleepers(srv.IMAP)); n != 0 {
		t.Fatalf("%d sleepers hold a tls.Conn, want none", n)
	}
	// DONE, then a SEARCH of 16 KiB, in one write: one full record.
	long := "x SEARCH OR SUBJECT \"Hello 2\" BODY \"" + strings.Repeat("q", 16<<10-60) + "\""
	c.Write("DONE\r\n" + long + "\r\n")
	expectSkipping(t, c, "i OK IDLE terminated", "* SEARCH 2", "x OK SEARCH completed")
	c.Send("i2 IDLE")
	c.Expect("S: + idling")
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	srv.Deliver(t, "alice", testMessage(3))
	if got := readSkipping(c); got != "* 3 EXISTS" {
		t.Fatalf("%q, want * 3 EXISTS", got)
	}
	if k := keptConn(testserver.Gather(t, srv.Metrics)); len(k) > 0 {
		t.Errorf("sleepers kept their tls.Conn: %v", k)
	}
}

// TestTLS12SleeperKeepsConn: a TLS 1.2 connection has no traffic
// secrets to take; it sleeps with its tls.Conn, counted as tls12, and
// is served as before.
func TestTLS12SleeperKeepsConn(t *testing.T) {
	srv := transportImplicit.start(t, func(c *imapserver.Config) { c.HibernateAfter = time.Millisecond })
	cfg := srv.TLS.Clone()
	cfg.MaxVersion = tls.VersionTLS12
	c := imaptest.DialT(t, srv.Addr, imaptest.DialOptions{TLS: cfg})
	c.Timeout = 10 * time.Second
	c.Login(srv.Alice.Name, srv.Alice.Password)
	c.Cmd("s SELECT INBOX")
	c.Send("i IDLE")
	c.Expect("S: + idling")
	// With a 1 ms timeout the session may already have slept (and counted
	// tls12) between LOGIN and IDLE: wait for the IDLE's own sleep.
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	if n := testserver.Gather(t, srv.Metrics)["dormouse_imap_hibernation_tls_kept_conn_total,reason=tls12"]; n < 1 {
		t.Fatalf("tls_kept_conn_total{reason=tls12} = %v, want at least 1", n)
	}
	if n := len(imapserver.TLSSleepers(srv.IMAP)); n != 1 {
		t.Fatalf("%d sleepers hold a tls.Conn, want 1", n)
	}
	srv.Deliver(t, "alice", testMessage(1))
	expectSkipping(t, c, "* 1 EXISTS")
	c.Send("DONE")
	expectSkipping(t, c, "* 1 RECENT", "i OK IDLE terminated")
	c.Cmd("f FETCH 1 (FLAGS)")
}

// TestHandoverMovesTLS13: a TLS 1.3 sleeper on its record state moves to
// the new process in an upgrade and goes on there; a TLS 1.2 one keeps
// its tls.Conn and cannot (NotMovedTLS).
func TestHandoverMovesTLS13(t *testing.T) {
	old := testserver.Start(t, testserver.WithTLS(true), testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = 50 * time.Millisecond
	}))
	asleep := old.DialTLS(t)
	asleep.Login(old.Alice.Name, old.Alice.Password)
	asleep.Cmd("s SELECT INBOX")
	asleep.Send("i IDLE")
	asleep.Expect("S: + idling")
	cfg12 := old.TLS.Clone()
	cfg12.MaxVersion = tls.VersionTLS12
	old12 := imaptest.DialT(t, old.Addr, imaptest.DialOptions{TLS: cfg12})
	old12.Login(old.Bob.Name, old.Bob.Password)
	old12.Cmd("s SELECT INBOX")
	old12.Send("i IDLE")
	old12.Expect("S: + idling")
	testserver.WaitMetric(t, old.Metrics, "dormouse_imap_connections,state=hibernated", 2)

	var got handedOver
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r := old.IMAP.Handover(ctx, got.send)
	if r.Moved != 1 || r.NotMoved[imapserver.NotMovedTLS] != 1 || len(got.fds) != 1 {
		t.Fatalf("handover result %+v with %d passed on, want 1 moved, 1 TLS not moved", r, len(got.fds))
	}
	old12.Expect("S: * BYE Server restarting, please reconnect")

	nu, addr := secondServer(t, old)
	c := imaptest.DialT(t, addr, imaptest.DialOptions{})
	c.Login(old.Alice.Name, old.Alice.Password)
	c.Append("INBOX", "Subject: on the way\r\n\r\nhi\r\n")
	if err := nu.Adopt(got.fds[0], got.blobs[0]); err != nil {
		t.Fatal(err)
	}
	nu.CatchUp(context.Background())
	asleep.Expect("S: * 1 EXISTS", "S: * 1 RECENT")
	asleep.Send("DONE")
	asleep.Expect("S: i OK IDLE terminated")
	lines := asleep.Cmd("f FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if len(lines) < 2 || lines[len(lines)-1] != "f OK FETCH completed" || !strings.Contains(strings.Join(lines, "\n"), "on the way") {
		t.Fatalf("FETCH after the move: %q", lines)
	}
}

// scriptedClient drives a command-line TLS client (openssl s_client,
// gnutls-cli) through its standard input and output.
type scriptedClient struct {
	t     *testing.T
	in    io.WriteCloser
	lines chan string
	// eol ends what send writes: "\n" for a client that sends CRLF
	// itself (s_client -crlf).
	eol string
}

func startScripted(t *testing.T, name, eol string, args ...string) *scriptedClient {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if requireInterop() {
			t.Fatalf("%s: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	cmd := exec.Command(path, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	s := &scriptedClient{t: t, in: in, lines: make(chan string, 1000), eol: eol}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- strings.TrimRight(sc.Text(), "\r")
		}
		close(s.lines)
	}()
	return s
}

// requireInterop says a missing client fails the test (CI).
func requireInterop() bool { return os.Getenv("REQUIRE_INTEROP") == "1" }

func (s *scriptedClient) send(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+s.eol); err != nil {
		s.t.Fatal(err)
	}
}

// command sends an inline command (a KeyUpdate) on a line of its own,
// ending in a bare LF as gnutls-cli wants it (so it runs without --crlf
// and send ends IMAP lines in CRLF itself); gnutls-cli takes one only
// at the start of what one read of its input returns, so the next line
// must not come in the same read. The pause
// only separates two writes; nothing is timed.
func (s *scriptedClient) command(line string) {
	s.t.Helper()
	time.Sleep(200 * time.Millisecond)
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
}

// expect reads lines until one starts with want (other output, such as
// the client's own messages, is skipped).
func (s *scriptedClient) expect(want string) {
	s.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				s.t.Fatalf("client ended waiting for %q", want)
			}
			s.t.Logf("client: %s", l)
			if strings.HasPrefix(l, want) {
				return
			}
		case <-deadline:
			s.t.Fatalf("no %q", want)
		}
	}
}

// TestTLS13KeyUpdateScripted drives openssl s_client (k, K) and
// gnutls-cli (^rekey1^, ^rekey^) through KeyUpdates with and without
// update_requested: before the first hibernation (crypto/tls handles
// them, and the Recorder under it follows them: the session still
// sleeps on its record state alone), to a sleeper (a full wake, whose
// record layer handles them), and after a wake (the record layer), with
// the session asleep again on its record state and an update sealed
// under the new key.
func TestTLS13KeyUpdateScripted(t *testing.T) {
	type client struct {
		name, eol         string
		args              func(port string) []string
		update, updateReq string
	}
	for _, cl := range []client{
		{"openssl", "\n", func(port string) []string {
			return []string{"s_client", "-connect", "127.0.0.1:" + port, "-tls1_3", "-crlf", "-servername", "localhost"}
		}, "k", "K"},
		{"openssl/chacha20", "\n", func(port string) []string {
			return []string{"s_client", "-connect", "127.0.0.1:" + port, "-tls1_3", "-crlf", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"}
		}, "k", "K"},
		{"openssl/aes256", "\n", func(port string) []string {
			return []string{"s_client", "-connect", "127.0.0.1:" + port, "-tls1_3", "-crlf", "-ciphersuites", "TLS_AES_256_GCM_SHA384"}
		}, "k", "K"},
		{"gnutls-cli", "\r\n", func(port string) []string {
			return []string{"--insecure", "--inline-commands", "-p", port, "127.0.0.1"}
		}, "^rekey1^", "^rekey^"},
	} {
		t.Run(cl.name, func(t *testing.T) {
			// Long enough for the first KeyUpdate to come before the
			// session's first quiet sleep after LOGIN; the test then
			// waits for each sleep.
			srv := transportImplicit.start(t, func(c *imapserver.Config) { c.HibernateAfter = time.Second })
			port := srv.Addr[strings.LastIndex(srv.Addr, ":")+1:]
			hibernated := "dormouse_imap_connections,state=hibernated"

			// Before any hibernation: crypto/tls takes the KeyUpdate,
			// the Recorder follows it.
			c := startScripted(t, strings.Split(cl.name, "/")[0], cl.eol, cl.args(port)...)
			c.expect("* OK")
			c.send("a LOGIN alice " + srv.Alice.Password)
			c.command(cl.updateReq)
			c.send("b SELECT INBOX")
			c.expect("a OK")
			c.expect("b OK")
			c.send("d IDLE")
			c.expect("+ idling")
			testserver.WaitMetric(t, srv.Metrics, hibernated, 1)
			if n := len(imapserver.TLSSleepers(srv.IMAP)); n != 0 {
				t.Fatalf("%d sleepers hold a tls.Conn after a KeyUpdate crypto/tls handled, want none", n)
			}
			srv.Deliver(t, "alice", testMessage(1))
			c.expect("* 1 EXISTS")
			c.send("DONE")
			c.expect("d OK")
			// Asleep: the record layer of the full wake takes them.
			c.command(cl.updateReq)
			c.send("d2 NOOP")
			c.expect("d2 OK")
			c.command(cl.update)
			c.send("d3 NOOP")
			c.expect("d3 OK")
			c.send("e LOGOUT")
			c.expect("* BYE")

			// After a hibernation: the record layer takes them.
			c = startScripted(t, strings.Split(cl.name, "/")[0], cl.eol, cl.args(port)...)
			c.expect("* OK")
			c.send("a LOGIN alice " + srv.Alice.Password)
			c.expect("a OK")
			c.send("b SELECT INBOX")
			c.expect("b OK")
			c.send("c IDLE")
			c.expect("+ idling")
			testserver.WaitMetric(t, srv.Metrics, hibernated, 1)
			base := testserver.Gather(t, srv.Metrics)
			c.send("DONE")
			c.expect("c OK")
			c.command(cl.update)
			c.send("d NOOP")
			c.expect("d OK")
			c.command(cl.updateReq)
			c.send("e FETCH 1 (BODY.PEEK[TEXT])")
			c.expect("Hello body 1")
			c.expect("e OK")
			c.send("f IDLE")
			c.expect("+ idling")
			testserver.WaitFor(t, "second hibernation", func() bool {
				got := testserver.Gather(t, srv.Metrics)
				return got["dormouse_imap_hibernations_by_transport_total,transport=tls13"] > base["dormouse_imap_hibernations_by_transport_total,transport=tls13"] && got[hibernated] == 1
			})
			srv.Deliver(t, "alice", testMessage(2))
			c.expect("* 2 EXISTS")
			c.command(cl.updateReq)
			c.send("DONE")
			c.expect("f OK")
			c.send("g LOGOUT")
			c.expect("* BYE")
			if k := keptConn(testserver.Gather(t, srv.Metrics)); len(k) > 0 {
				t.Fatalf("sleepers kept their tls.Conn: %v", k)
			}
		})
	}
}
