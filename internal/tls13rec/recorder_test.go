package tls13rec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/dormouse/dormouse/internal/testcert"
)

// pair is a real TCP connection: a crypto/tls client on one end, a
// server tls.Conn with its Recorder on the other, handshake done.
type pair struct {
	client *tls.Conn
	server *tls.Conn
	rec    *Recorder
	// clientRec is a Recorder under the client's tls.Conn.
	clientRec *Recorder
}

func newPair(t *testing.T, clientMax uint16) pair {
	t.Helper()
	srvCfg, cliCfg := testcert.New(t)
	cliCfg = cliCfg.Clone()
	cliCfg.MaxVersion = clientMax
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- nc
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc := <-accepted
	if nc == nil {
		t.Fatal("accept failed")
	}
	server, rec := Server(nc, srvCfg)
	clientRec := &Recorder{Conn: cc, client: true}
	cliCfg.KeyLogWriter = keyLog{clientRec}
	client := tls.Client(clientRec, cliCfg)
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.NetConn().Close() })
	return pair{client, server, rec, clientRec}
}

// say writes msg on w and reads it whole from r.
func say(t *testing.T, w io.Writer, r io.Reader, msg []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { _, err := w.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %d bytes %.40q, want %.40q", len(got), got, msg)
	}
}

// chat exchanges a few IMAP-like lines both ways, a large one among them.
func chat(t *testing.T, client, server net.Conn) {
	t.Helper()
	say(t, server, client, []byte("* OK ready\r\n"))
	say(t, client, server, []byte("a LOGIN u p\r\n"))
	say(t, server, client, bytes.Repeat([]byte("x"), 40000))
	say(t, client, server, bytes.Repeat([]byte("y"), 70000))
	say(t, server, client, []byte("a OK done\r\n"))
	say(t, client, server, []byte("b IDLE\r\n"))
	say(t, server, client, []byte("+ idling\r\n"))
}

// TestDetachContinues takes the record state out of a crypto/tls
// server connection and goes on with a Conn: the crypto/tls client sees
// one stream, in both directions, through KeyUpdates both ways (ours
// asking for the client's) and to a close_notify.
func TestDetachContinues(t *testing.T) {
	p := newPair(t, tls.VersionTLS13)
	chat(t, p.client, p.server)
	st, err := p.rec.Detach(p.server)
	if err != nil {
		t.Fatalf("Detach: %v", err)
	}
	// The tls.Conn can no longer touch the socket.
	if _, err := p.server.Write([]byte("x")); err == nil {
		t.Fatal("the dropped tls.Conn still writes")
	}
	// Through the encoded form, as in a hibernation blob.
	enc, err := st.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var st2 State
	if err := st2.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	c, err := NewConn(p.rec.NetConn(), st2, nil)
	if err != nil {
		t.Fatal(err)
	}
	say(t, p.client, c, []byte("DONE\r\n"))
	say(t, c, p.client, []byte("b OK IDLE terminated\r\n"))
	say(t, p.client, c, bytes.Repeat([]byte("z"), 3*maxPlaintext+7))
	say(t, c, p.client, bytes.Repeat([]byte("w"), 50000))
	if err := c.KeyUpdate(true); err != nil {
		t.Fatal(err)
	}
	// crypto/tls answers our request with a KeyUpdate of its own, which
	// the next read takes in before the data.
	say(t, c, p.client, []byte("* OK after key update\r\n"))
	say(t, p.client, c, []byte("c NOOP\r\n"))
	// And again from the exported state of the Conn.
	st3, err := c.Export()
	if err != nil {
		t.Fatal(err)
	}
	if st3.ReadSeq == 0 || bytes.Equal(st3.WriteSecret, st.WriteSecret) || bytes.Equal(st3.ReadSecret, st.ReadSecret) {
		t.Fatalf("state after key updates: %+v", st3)
	}
	c2, err := NewConn(p.rec.NetConn(), st3, nil)
	if err != nil {
		t.Fatal(err)
	}
	say(t, c2, p.client, []byte("c OK NOOP\r\n"))
	say(t, p.client, c2, []byte("d LOGOUT\r\n"))
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := p.client.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("client after close_notify: %d, %v", n, err)
	}
}

// TestDetachRefuses shows each refusal: a wrong sequence number guess
// (one record more or less than sent, as a record the Recorder did not
// see would make it) is caught before the tls.Conn is dropped, which
// then goes on as if nothing happened.
func TestDetachRefuses(t *testing.T) {
	tests := []struct {
		name      string
		clientMax uint16
		last      []byte // the server's last message
		tamper    func(r *Recorder)
		want      Refusal
	}{
		{"tls12", tls.VersionTLS12, nil, nil, RefusedTLS12},
		{"in one more", tls.VersionTLS13, nil, func(r *Recorder) { r.in.count++ }, RefusedVerify},
		{"in one less", tls.VersionTLS13, nil, func(r *Recorder) { r.in.count-- }, RefusedVerify},
		{"out one more", tls.VersionTLS13, nil, func(r *Recorder) { r.out.count++ }, RefusedVerify},
		{"wrong secret", tls.VersionTLS13, nil, func(r *Recorder) { r.outSecret = r.suite.nextSecret(r.outSecret) }, RefusedVerify},
		{"big record", tls.VersionTLS13, bytes.Repeat([]byte("b"), 6000), nil, RefusedRecordBig},
		{"no secrets", tls.VersionTLS13, nil, func(r *Recorder) { r.inSecret = nil }, RefusedNoSecrets},
		{"mid record", tls.VersionTLS13, nil, func(r *Recorder) { r.in.hdrN = 2 }, RefusedMidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, tt.clientMax)
			chat(t, p.client, p.server)
			if tt.last != nil {
				say(t, p.server, p.client, tt.last)
			}
			p.rec.mu.Lock()
			savedIn, savedOut := p.rec.in, p.rec.out
			savedInSecret, savedOutSecret := p.rec.inSecret, p.rec.outSecret
			if tt.tamper != nil {
				tt.tamper(p.rec)
			}
			p.rec.mu.Unlock()
			_, err := p.rec.Detach(p.server)
			var r Refusal
			if !errors.As(err, &r) || r != tt.want {
				t.Fatalf("Detach: %v, want %v", err, tt.want)
			}
			p.rec.mu.Lock()
			p.rec.in, p.rec.out = savedIn, savedOut
			p.rec.inSecret, p.rec.outSecret = savedInSecret, savedOutSecret
			p.rec.mu.Unlock()
			say(t, p.client, p.server, []byte("DONE\r\n"))
			say(t, p.server, p.client, []byte("b OK still on crypto/tls\r\n"))
		})
	}
}

// TestDetachFollowsKeyUpdate: crypto/tls takes a client's KeyUpdate
// (and answers one asking for it) inside its Read; the Recorder sees
// both by their length and follows them, so Detach succeeds and the Conn
// continues under the updated secrets both ways. A KeyUpdate it cannot
// see (padded to another length) makes Detach refuse rather than guess,
// and crypto/tls goes on. The client is a Conn of ours, detached from a
// crypto/tls client the same way.
func TestDetachFollowsKeyUpdate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		request bool
		pad     int
	}{
		{"key update", false, 0},
		{"key update requested", true, 0},
		{"padded key update", false, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, tls.VersionTLS13)
			chat(t, p.client, p.server)
			// The client's own record state, through the client-side
			// Recorder in place of its socket.
			cst, err := p.clientRec.Detach(p.client)
			if err != nil {
				t.Fatal(err)
			}
			cc, err := NewConn(p.clientRec.NetConn(), cst, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.pad == 0 {
				err = cc.KeyUpdate(tt.request)
			} else {
				err = cc.paddedKeyUpdate(tt.pad)
			}
			if err != nil {
				t.Fatal(err)
			}
			say(t, cc, p.server, []byte("DONE\r\n"))
			say(t, p.server, cc, []byte("b OK IDLE terminated\r\n"))
			st, err := p.rec.Detach(p.server)
			if tt.pad > 0 {
				var r Refusal
				if !errors.As(err, &r) || r != RefusedVerify {
					t.Fatalf("Detach after a padded KeyUpdate: %v, want %v", err, RefusedVerify)
				}
				say(t, cc, p.server, []byte("c NOOP\r\n"))
				say(t, p.server, cc, []byte("c OK still crypto/tls\r\n"))
				return
			}
			if err != nil {
				t.Fatalf("Detach after a KeyUpdate: %v", err)
			}
			sc, err := NewConn(p.rec.NetConn(), st, nil)
			if err != nil {
				t.Fatal(err)
			}
			say(t, cc, sc, []byte("c NOOP\r\n"))
			say(t, sc, cc, []byte("c OK on the record layer\r\n"))
		})
	}
}

// paddedKeyUpdate sends a KeyUpdate (update_not_requested) padded with
// pad zero bytes, and moves the write direction on (tests).
func (c *Conn) paddedKeyUpdate(pad int) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	inner := append([]byte{handshakeKeyUpdate, 0, 0, 1, 0, typeHandshake}, make([]byte, pad)...)
	n := len(inner) + tagLen
	hdr := []byte{typeApplicationData, 3, 3, byte(n >> 8), byte(n)}
	nonce := c.out.nonce(c.out.seq)
	c.out.seq++
	rec := c.out.aead.Seal(append([]byte(nil), hdr...), nonce[:], inner, hdr)
	if err := c.out.update(); err != nil {
		return err
	}
	_, err := c.raw.Write(rec)
	return err
}
