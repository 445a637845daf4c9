//go:build unix

package imapserver_test

import (
	"bytes"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kflate "github.com/klauspost/compress/flate"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// splitConn writes its next write in two parts when armed: the first
// splitAt bytes, then, after pause returns, the rest (a TLS record cut
// in two TCP segments that arrive apart).
type splitConn struct {
	net.Conn
	armed   atomic.Bool
	splitAt int
	pause   func()
}

func (c *splitConn) Write(p []byte) (int, error) {
	if !c.armed.CompareAndSwap(true, false) || len(p) <= c.splitAt {
		return c.Conn.Write(p)
	}
	n, err := c.Conn.Write(p[:c.splitAt])
	if err != nil {
		return n, err
	}
	c.pause()
	m, err := c.Conn.Write(p[c.splitAt:])
	return n + m, err
}

// TestSleeperHoldsSplitInput: a sleeper in IDLE that reads only part of
// its client's DONE (part of a line, half of a compressed flush, the
// first TCP segment of a TLS record, the first of two TLS records of one
// compressed flush) holds it and stays asleep; with the rest it answers
// DONE and the next IDLE asleep, with no full wake. Each split waits for
// the server to have held the first part (hibernated_served_total
// {kind="held"}) before the rest is sent.
func TestSleeperHoldsSplitInput(t *testing.T) {
	const held = "dormouse_imap_hibernated_served_total,kind=held"
	const wakes = "dormouse_imap_wakes_total,cause=client"
	stateless := func(p string) []byte {
		var b bytes.Buffer
		if err := kflate.StatelessDeflate(&b, []byte(p), false, nil); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	tests := []struct {
		name string
		tr   transport
	}{
		{"plain line", transportPlain},
		{"compressed flush", transportCompress},
		{"tls13 record in two segments", transportImplicit},
		{"tls13 compressed flush in two records", transportTLSCompress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.tr.start(t, func(c *imapserver.Config) { c.HibernateAfter = time.Millisecond })
			waitHeld := func(n float64) func() {
				return func() { testserver.WaitMetric(t, srv.Metrics, held, n) }
			}
			var c *imaptest.Conn
			var split *splitConn
			var under net.Conn // below the compression
			switch tt.tr {
			case transportImplicit, transportTLSCompress:
				nc, err := net.Dial("tcp", srv.Addr)
				if err != nil {
					t.Fatal(err)
				}
				split = &splitConn{Conn: nc, splitAt: 3}
				tc := tls.Client(split, srv.TLS)
				t.Cleanup(func() { tc.Close() })
				c = imaptest.New(tc, 0)
				c.Timeout = 10 * time.Second
				if g, err := c.ReadResponse(); err != nil || !strings.HasPrefix(g, "* OK") {
					t.Fatalf("greeting %q %v", g, err)
				}
				if _, st, err := c.Run("LOGIN " + srv.Alice.Name + " " + strconv.Quote(srv.Alice.Password)); err != nil || !strings.Contains(st, "OK") {
					t.Fatalf("login: %s %v", st, err)
				}
			default:
				cl := srv.Login(t, srv.Alice)
				c = cl.Conn
			}
			under = c.NetConn()
			if tt.tr == transportCompress || tt.tr == transportTLSCompress {
				if _, st, err := c.Run("COMPRESS DEFLATE"); err != nil || !strings.Contains(st, "OK") {
					t.Fatalf("compress: %s %v", st, err)
				}
				if err := c.CompressStateless(); err != nil {
					t.Fatal(err)
				}
			}
			if _, st, err := c.Run("SELECT INBOX"); err != nil || !strings.Contains(st, "OK") {
				t.Fatalf("select: %s %v", st, err)
			}
			if err := c.Send("i IDLE"); err != nil {
				t.Fatal(err)
			}
			if l, err := c.ReadResponse(); err != nil || l != "+ idling" {
				t.Fatalf("IDLE: %q %v", l, err)
			}
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
			if tt.tr == transportImplicit || tt.tr == transportTLSCompress {
				if n := len(imapserver.TLSSleepers(srv.IMAP)); n != 0 {
					t.Fatalf("%d sleepers hold a tls.Conn, want none", n)
				}
			}
			before := testserver.Gather(t, srv.Metrics)
			switch tt.tr {
			case transportPlain:
				c.Write("DO")
				waitHeld(1)()
				c.Write("NE\r\n")
			case transportCompress, transportTLSCompress:
				// One flush, written below the compression in two
				// writes: for TLS, two records.
				z := stateless("DONE\r\n")
				if _, err := under.Write(z[:len(z)/2]); err != nil {
					t.Fatal(err)
				}
				waitHeld(1)()
				if _, err := under.Write(z[len(z)/2:]); err != nil {
					t.Fatal(err)
				}
			case transportImplicit:
				split.pause = waitHeld(1)
				split.armed.Store(true)
				c.Write("DONE\r\n")
			}
			if l, err := c.ReadResponse(); err != nil || l != "i OK IDLE terminated" {
				t.Fatalf("after DONE: %q %v", l, err)
			}
			if err := c.Send("i2 IDLE"); err != nil {
				t.Fatal(err)
			}
			if l, err := c.ReadResponse(); err != nil || l != "+ idling" {
				t.Fatalf("IDLE: %q %v", l, err)
			}
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
			got := testserver.Gather(t, srv.Metrics)
			if d := got[wakes] - before[wakes]; d != 0 {
				t.Errorf("%v client wakes, want none (wake commands %v)", d, got)
			}
			// The session goes on: a delivery reaches it asleep.
			srv.Deliver(t, "alice", testMessage(1))
			if l, err := c.ReadResponse(); err != nil || l != "* 1 EXISTS" {
				t.Fatalf("delivery: %q %v", l, err)
			}
		})
	}
}

// TestSleeperHeldThenWoken: input held asleep that turns out to be a
// command a sleeper cannot answer goes to the full wake whole, held part
// first: after a DONE answered asleep, between commands, plain and over
// TLS 1.3 (the held records opened again by the woken record layer).
func TestSleeperHeldThenWoken(t *testing.T) {
	const held = "dormouse_imap_hibernated_served_total,kind=held"
	for _, tr := range []transport{transportPlain, transportImplicit} {
		t.Run(tr.String(), func(t *testing.T) {
			srv := tr.start(t, func(c *imapserver.Config) { c.HibernateAfter = time.Millisecond })
			fillOver(t, srv, tr, "INBOX", 1)
			c := tr.login(t, srv, srv.Alice)
			c.Timeout = 10 * time.Second
			c.Cmd("s SELECT INBOX")
			c.Send("i IDLE")
			c.Expect("S: + idling")
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
			c.Send("DONE")
			expectSkipping(t, c, "i OK IDLE terminated")
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
			c.Write("f FETCH 1 (BODY.PEEK[TEXT]")
			testserver.WaitMetric(t, srv.Metrics, held, 1)
			c.Write(")\r\n")
			var lines []string
			for {
				l := readSkipping(c)
				lines = append(lines, l)
				if strings.HasPrefix(l, "f ") {
					break
				}
			}
			if all := strings.Join(lines, "\n"); !strings.Contains(all, "Hello body 1") || !strings.HasPrefix(lines[len(lines)-1], "f OK") {
				t.Fatalf("after the rest: %q", lines)
			}
			if w := testserver.Gather(t, srv.Metrics)["dormouse_imap_wakes_total,cause=client"]; w < 1 {
				t.Errorf("%v client wakes, want the FETCH's", w)
			}
		})
	}
}
