package imapserver

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/testcert"
)

// tlsPair returns both ends of a TLS connection over 127.0.0.1 after the
// handshake; raw is the client's socket under its tls.Conn.
func tlsPair(t *testing.T, serverCfg, clientCfg *tls.Config) (server, client *tls.Conn, raw net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type accepted struct {
		c   *tls.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			ch <- accepted{err: err}
			return
		}
		tc := tls.Server(nc, serverCfg)
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		err = tc.Handshake()
		tc.SetDeadline(time.Time{})
		ch <- accepted{tc, err}
	}()
	raw, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client = tls.Client(raw, clientCfg)
	client.SetDeadline(time.Now().Add(5 * time.Second))
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	client.SetDeadline(time.Time{})
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	// Closed under TLS: tls.Conn.Close would wait up to 5 s for its
	// close_notify to a client that reads nothing.
	t.Cleanup(func() { a.c.NetConn().Close(); raw.Close() })
	return a.c, client, raw
}

// TestTLSPending checks tlsPending against what a tls.Conn really holds:
// nothing after the handshake; a second record read from the socket
// together with the first; the start of a record. If crypto/tls renamed
// the fields it reads, the first case fails.
func TestTLSPending(t *testing.T) {
	serverCfg, clientCfg := testcert.New(t)
	// Both TLS 1.3 (the session ticket sent after the handshake is a
	// record the server never reads) and TLS 1.2.
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			cc := clientCfg.Clone()
			cc.MaxVersion = version
			server, client, raw := tlsPair(t, serverCfg, cc)
			if tlsPending(server) {
				t.Fatal("pending right after the handshake, want not (did crypto/tls rename rawInput, input or hand?)")
			}

			// Two records that reach the socket together: one Read takes
			// both from the socket and returns the first.
			for _, s := range []string{"DONE\r\n", "a IDLE\r\n"} {
				if _, err := client.Write([]byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(50 * time.Millisecond) // both segments arrive
			buf := make([]byte, 512)
			server.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := server.Read(buf)
			if err != nil || string(buf[:n]) != "DONE\r\n" {
				t.Fatalf("first read: %q, %v", buf[:n], err)
			}
			if !tlsPending(server) {
				t.Error("second record buffered in tls.Conn: pending, want true")
			}
			n, err = server.Read(buf)
			if err != nil || string(buf[:n]) != "a IDLE\r\n" {
				t.Fatalf("second read: %q, %v", buf[:n], err)
			}
			if tlsPending(server) {
				t.Error("all read: pending, want false")
			}

			// Decrypted data not yet read.
			client.Write([]byte("0123456789"))
			n, err = server.Read(buf[:4])
			if err != nil || n != 4 {
				t.Fatalf("partial read: %d, %v", n, err)
			}
			if !tlsPending(server) {
				t.Error("6 decrypted bytes unread: pending, want true")
			}
			server.Read(buf)

			// The start of a record: a timed-out read keeps it (the
			// deadline error is temporary in crypto/tls), and the sleeper
			// must not rest on it.
			if _, err := raw.Write([]byte{23, 3, 3}); err != nil {
				t.Fatal(err)
			}
			s := sleeper{tc: server}
			if _, err := s.read(buf); !errors.Is(err, errWouldBlock) {
				t.Fatalf("read of a partial record: %v, want errWouldBlock", err)
			}
			if !tlsPending(server) {
				t.Error("partial record buffered: pending, want true")
			}
		})
	}
}

// TestSleeperTLSWriteDeadline checks that a write to a TLS sleeper whose
// client reads nothing gives up after sleeperIOTimeout rather than
// blocking the hibernator.
func TestSleeperTLSWriteDeadline(t *testing.T) {
	serverCfg, clientCfg := testcert.New(t)
	server, _, _ := tlsPair(t, serverCfg, clientCfg)
	s := sleeper{tc: server}
	chunk := make([]byte, 64<<10)
	var err error
	for i := 0; i < 1000 && err == nil; i++ { // at most 64 MiB
		_, err = s.write(chunk)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("writes to a client that reads nothing: %v, want a deadline error", err)
	}
}
