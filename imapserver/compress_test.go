package imapserver_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestCompress checks RFC 4978 COMPRESS DEFLATE: offered only after
// login, refused before it and for another mechanism, and once active,
// both directions are raw DEFLATE (the client is Go's compress/flate,
// not the server's library); a second COMPRESS is NO [COMPRESSIONACTIVE],
// over the compressed stream.
func TestCompress(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 3)
	c := srv.Dial(t)
	if strings.Contains(c.Greeting, "COMPRESS") {
		t.Errorf("COMPRESS offered before login: %s", c.Greeting)
	}
	c.Run(`
C: a COMPRESS DEFLATE
S: a BAD COMPRESS not allowed before authentication
`)
	lines := c.Cmd("L LOGIN " + srv.Alice.Name + " " + strconv.Quote(srv.Alice.Password))
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "L OK") {
		t.Fatalf("login: %q", lines)
	}
	if lines := c.Cmd("b CAPABILITY"); !strings.Contains(lines[0]+" ", " COMPRESS=DEFLATE ") {
		t.Errorf("COMPRESS=DEFLATE not offered after login: %q", lines)
	}
	c.Run(`
C: c COMPRESS LZW
S: c BAD Unknown compression mechanism
C: d COMPRESS DEFLATE
S: d OK DEFLATE active
`)
	c.Compress()
	if lines := c.Cmd("e SELECT INBOX"); lines[len(lines)-1] != "e OK [READ-WRITE] SELECT completed" {
		t.Fatalf("SELECT: %q", lines)
	}
	c.Run(`
C: f COMPRESS DEFLATE
S: f NO [COMPRESSIONACTIVE] DEFLATE active already
C: g FETCH 1:3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])
S: * 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {20}\r\nSubject: Hello 1\r\n\r\n)
S: * 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {20}\r\nSubject: Hello 2\r\n\r\n)
S: * 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {20}\r\nSubject: Hello 3\r\n\r\n)
S: g OK FETCH completed
`)
	// A large APPEND, compressed, and its message read back.
	big := testMessage(4) + strings.Repeat("0123456789abcdef\r\n", 8000)
	appendMsg(t, c, "INBOX", "", big)
	lines = c.Cmd("h FETCH 4 (RFC822.SIZE)")
	if want := "* 4 FETCH (RFC822.SIZE " + strconv.Itoa(len(big)) + ")"; lines[0] != want {
		t.Errorf("got %q, want %q", lines[0], want)
	}
	c.Run(`
C: z LOGOUT
S: * BYE Logging out
S: z OK LOGOUT completed
`)
}

// TestCompressFlushedCommandAnsweredAtOnce sends one command, compressed
// and ended by a sync flush, and nothing more: the server must answer it
// without waiting for further input (an inflater that reads on past a
// sync-flush boundary before returning what it decoded stalls here; iOS
// Mail timed out on exactly that with another Go server). The sync-flush
// marker goes in a write of its own, a TCP segment after the command's
// block, to exercise a boundary that arrives late too.
func TestCompressFlushedCommandAnsweredAtOnce(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	lines := c.Cmd("z COMPRESS DEFLATE")
	if last := lines[len(lines)-1]; last != "z OK DEFLATE active" {
		t.Fatalf("COMPRESS: %q", lines)
	}
	nc := c.NetConn()
	zr := flate.NewReader(nc)
	br := bufio.NewReader(zr)
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestCompression)
	for i, cmd := range []string{"a NOOP", "b NOOP", "c CAPABILITY"} {
		buf.Reset()
		zw.Write([]byte(cmd + "\r\n"))
		zw.Flush()
		b := buf.Bytes()
		if !bytes.HasSuffix(b, []byte{0, 0, 0xff, 0xff}) {
			t.Fatalf("no sync-flush marker: %x", b)
		}
		if i == 1 {
			// The block, then the marker on its own.
			nc.Write(b[:len(b)-4])
			time.Sleep(10 * time.Millisecond)
			nc.Write(b[len(b)-4:])
		} else {
			nc.Write(b)
		}
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		tag := cmd[:1] + " OK"
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: no answer (%v): the server waits for more input", cmd, err)
			}
			if strings.HasPrefix(l, tag) {
				break
			}
		}
	}
}

// TestCompressPartialFlushAnsweredAtOnce is mbsync's second sync
// (isync 1.4.4, which flushes with zlib's Z_PARTIAL_FLUSH): 200 UID
// STOREs and a CHECK pipelined in one flush, whose last bits (of an
// empty fixed block) stay with the client. Every command must be
// answered without more input; compress/flate and klauspost/compress
// decoded none of them (they wait for the next block's header).
func TestCompressPartialFlushAnsweredAtOnce(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 3)
	c := transportCompressPartial.login(t, srv, srv.Alice)
	c.Timeout = 10 * time.Second
	c.Cmd("s SELECT INBOX")
	var cmds strings.Builder
	for i := range 200 {
		fmt.Fprintf(&cmds, "%d UID STORE %d +FLAGS.SILENT (\\Seen)\r\n", i, i%3+1)
	}
	cmds.WriteString("z CHECK\r\n")
	c.Write(cmds.String())
	for i := range 200 {
		expectSkipping(t, c, fmt.Sprintf("%d OK UID STORE completed", i))
	}
	expectSkipping(t, c, "z OK CHECK completed")
	for _, cmd := range []string{"n NOOP", "f FETCH 1:* (FLAGS)"} {
		lines := c.Cmd(cmd)
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, cmd[:2]+"OK") {
			t.Fatalf("%s: %q", cmd, lines)
		}
	}
}

// TestHibernationCompress checks that compressed connections, plain and
// over TLS, sleep and are served asleep through a compressor made for
// each answer: keepalives, a delivery, DONE and a new IDLE, a NOOP. The
// client's stream goes on across each sleep with back-references into
// what it sent before (the server keeps its inflate window), the command
// after a lone DONE wakes the session fully, and at shutdown a sleeper
// hears BYE, compressed.
func TestHibernationCompress(t *testing.T) {
	for _, tr := range []transport{transportCompress, transportTLSCompress, transportCompressPartial} {
		t.Run(tr.String(), func(t *testing.T) {
			srv := tr.start(t, func(c *imapserver.Config) {
				c.HibernateAfter = time.Millisecond
				c.IdleKeepalive = time.Second
			})
			fillOver(t, srv, tr, "INBOX", 1)
			c := tr.login(t, srv, srv.Alice)
			c.Timeout = 5 * time.Second
			c.Cmd("s SELECT INBOX")
			c.Send("i IDLE")
			c.Expect("S: + idling")
			hibernated := "dormouse_imap_connections,state=hibernated"
			testserver.WaitMetric(t, srv.Metrics, hibernated, 1)
			// Counted from here: the session may have slept between
			// its commands before (woken by each).
			wakes := func() float64 {
				got := testserver.Gather(t, srv.Metrics)
				return got["dormouse_imap_wakes_total,cause=client"] + got["dormouse_imap_wakes_total,cause=mailbox"]
			}
			wokeBefore := wakes()
			asleep := func(step string) {
				t.Helper()
				got := testserver.Gather(t, srv.Metrics)
				if got[hibernated] != 1 || wakes() != wokeBefore {
					t.Fatalf("after %s: hibernated = %v, wakes = %v, want 1 and none", step, got[hibernated], wakes()-wokeBefore)
				}
			}
			c.Expect("S: * OK Still here")
			asleep("keepalive")
			// Counted after the keepalive: a session that slept
			// before its IDLE had the IDLE answered asleep, counted
			// as a re-IDLE just after its "+ idling".
			before := testserver.Gather(t, srv.Metrics)

			srv.Deliver(t, "alice", testMessage(2))
			expectSkipping(t, c, "* 2 EXISTS", "* 2 RECENT")
			asleep("delivery")

			// DONE and a new IDLE in one flush: answered asleep, the
			// IDLE compressed against the one sent before the sleep.
			c.Write("DONE\r\ni2 IDLE\r\n")
			expectSkipping(t, c, "i OK IDLE terminated", "+ idling")
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_hibernated_served_total,kind=reidle", before["dormouse_imap_hibernated_served_total,kind=reidle"]+1)
			asleep("re-IDLE")

			// DONE and a NOOP, then a new IDLE: all answered asleep,
			// compressed.
			served := "dormouse_imap_hibernated_served_total,kind=command"
			c.Write("DONE\r\np NOOP\r\n")
			expectSkipping(t, c, "i2 OK IDLE terminated", "p OK NOOP completed")
			testserver.WaitMetric(t, srv.Metrics, served, before[served]+1)
			asleep("NOOP")
			c.Send("i5 IDLE")
			expectSkipping(t, c, "+ idling")
			asleep("IDLE after NOOP")

			// A lone DONE, then a command: a full wake, whose inflater
			// starts from the window kept asleep.
			c.Send("DONE")
			expectSkipping(t, c, "i5 OK IDLE terminated")
			c.Send("n FETCH 1:* (FLAGS)")
			expectSkipping(t, c, "* 1 FETCH (FLAGS (\\Recent))", "* 2 FETCH (FLAGS (\\Recent))", "n OK FETCH completed")
			if got := testserver.Gather(t, srv.Metrics)["dormouse_imap_wakes_total,cause=client"] - before["dormouse_imap_wakes_total,cause=client"]; got != 1 {
				t.Errorf("client wakes = %v, want 1", got)
			}

			// Asleep again, woken by a delivery that needs the store,
			// then by the client; every answer decodes.
			c.Send("i3 IDLE")
			expectSkipping(t, c, "+ idling")
			testserver.WaitMetric(t, srv.Metrics, hibernated, 1)
			c.Send("DONE")
			expectSkipping(t, c, "i3 OK IDLE terminated")
			c.Send("n2 FETCH 1:* (FLAGS)")
			expectSkipping(t, c, "* 1 FETCH (FLAGS (\\Recent))", "* 2 FETCH (FLAGS (\\Recent))", "n2 OK FETCH completed")

			c.Send("i4 IDLE")
			expectSkipping(t, c, "+ idling")
			testserver.WaitMetric(t, srv.Metrics, hibernated, 1)
			srv.Close()
			expectSkipping(t, c, "* BYE Server shutting down")
			got := testserver.Gather(t, srv.Metrics)
			label := map[transport]string{transportCompress: "compressed", transportTLSCompress: "tls13+compressed", transportCompressPartial: "compressed"}[tr]
			// Three in IDLE (two since the first was seen), and any
			// between commands (a command may find its session asleep).
			byTransport := "dormouse_imap_hibernations_by_transport_total,transport=" + label
			if n := got[byTransport] - before[byTransport]; n < 2 {
				t.Errorf("%s hibernations since the first IDLE's = %v, want at least 2", label, n)
			}
			kept := "dormouse_imap_hibernation_kept_bytes,transport=" + label
			t.Logf("kept per %s sleeper: %.0f bytes on average over %v sleeps", label, got[kept+"_sum"]/got[kept+"_count"], got[kept+"_count"])
		})
	}
}

// TestHibernationDifferentialCompress runs the differential scripts (the
// NOTIFY MessageNew fetch one too: bench/fleet's NOTIFY client is
// compressed) over COMPRESS DEFLATE, plain, over TLS and with clients
// that flush as zlib's Z_PARTIAL_FLUSH (bits pending across each sleep):
// with hibernation off and after 1 ms, no client may see a difference.
func TestHibernationDifferentialCompress(t *testing.T) {
	for _, tr := range []transport{transportCompress, transportTLSCompress, transportCompressPartial} {
		t.Run(tr.String()+"/script", func(t *testing.T) { checkDifferential(t, tr) })
		t.Run(tr.String()+"/fast", func(t *testing.T) { checkFastDifferential(t, tr) })
		t.Run(tr.String()+"/notifyfetch", func(t *testing.T) { checkNotifyFetchDifferential(t, tr) })
	}
}

// TestCompressPendingStaysAwake checks that an IDLE whose client sent the
// start of a block without its end (here a stored block's first byte) is
// not hibernated, as the inflater's state there is more than the window
// and its pending bits (reason deflate_pending), and that the read
// deadlines of the waiting IDLE do not break the stream: the rest of the
// block arrives and is read (the inflater keeps its state when input runs
// out mid-block).
func TestCompressPendingStaysAwake(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
	}))
	fill(t, srv, "INBOX", 1)
	c := selectInbox(t, srv)
	lines := c.Cmd("z COMPRESS DEFLATE")
	if last := lines[len(lines)-1]; last != "z OK DEFLATE active" {
		t.Fatalf("COMPRESS: %q", lines)
	}
	nc := c.NetConn()
	br := bufio.NewReader(flate.NewReader(nc))
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	zw.Write([]byte("i IDLE\r\n"))
	zw.Flush()
	// The IDLE, and the first byte of a stored block (BFINAL 0, BTYPE 0).
	nc.Write(append(buf.Bytes(), 0))
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := br.ReadString('\n'); err != nil || l != "+ idling\r\n" {
		t.Fatalf("got %q, %v", l, err)
	}
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_hibernation_refused_total,reason=deflate_pending", 1)
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_hibernation_refused_by_transport_total,transport=compressed", 1)
	if got := testserver.Gather(t, srv.Metrics)["dormouse_imap_connections,state=hibernated"]; got != 0 {
		t.Errorf("hibernated connections = %v, want 0: the IDLE with half a block sleeps", got)
	}
	// The rest of the stored block: LEN 6, NLEN, "DONE\r\n", then a
	// sync flush.
	nc.Write([]byte("\x06\x00\xf9\xffDONE\r\n\x00\x00\x00\xff\xff"))
	if l, err := br.ReadString('\n'); err != nil || l != "i OK IDLE terminated\r\n" {
		t.Fatalf("got %q, %v", l, err)
	}
}

// TestCompressUnauthenticate checks that compression outlives
// UNAUTHENTICATE (RFC 8437 ends the authentication, not the transport)
// and that STARTTLS is then refused, as TLS cannot start under the
// compression layer.
func TestCompressUnauthenticate(t *testing.T) {
	srv := testserver.Start(t, testserver.WithTLS(false))
	c := srv.Login(t, srv.Alice) // in the clear, on loopback
	compress(t, c)
	c.Run(`
C: u UNAUTHENTICATE
S: u OK UNAUTHENTICATE completed
C: s STARTTLS
S: s BAD STARTTLS not available after COMPRESS
C: n NOOP
S: n OK NOOP completed
`)
}

// TestCompressCorruptInput: input that is not DEFLATE (a reserved block
// type) ends the connection, after a BYE the client can still decode
// (the server's own compressed stream is intact).
func TestCompressCorruptInput(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	lines := c.Cmd("z COMPRESS DEFLATE")
	if last := lines[len(lines)-1]; last != "z OK DEFLATE active" {
		t.Fatalf("COMPRESS: %q", lines)
	}
	nc := c.NetConn()
	nc.Write([]byte{0x07, 0xff, 0xff})
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(flate.NewReader(nc))
	if string(got) != "* BYE Connection error\r\n" {
		t.Fatalf("got %q (%v), want a BYE and the end of the connection", got, err)
	}
}
