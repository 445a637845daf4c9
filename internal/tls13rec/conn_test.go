package tls13rec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestKeyScheduleRFC8448 checks the traffic key and IV derivation
// against RFC 8448 section 3 (a simple 1-RTT handshake, AES-128-GCM).
func TestKeyScheduleRFC8448(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	s, _ := suiteByID(TLS_AES_128_GCM_SHA256)
	for _, tt := range []struct{ secret, key, iv string }{
		{"a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643", "9f02283b6c9c07efc26bb9f2ac92e356", "cf782b88dd83549aadf1e984"},
		{"9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5", "17422dda596ed5d9acd890e3c63f5051", "5b78923dee08579033e523d9"},
	} {
		if got := s.expandLabel(unhex(tt.secret), "key", 16); !bytes.Equal(got, unhex(tt.key)) {
			t.Errorf("key of %s: %x, want %s", tt.secret, got, tt.key)
		}
		if got := s.expandLabel(unhex(tt.secret), "iv", 12); !bytes.Equal(got, unhex(tt.iv)) {
			t.Errorf("iv of %s: %x, want %s", tt.secret, got, tt.iv)
		}
	}
}

// tcpPair is a connected TCP pair on 127.0.0.1.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); ch <- c }()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// testState is a record state with fixed secrets of suite id; mirror is
// the peer's view of it.
func testState(t testing.TB, id uint16) (st, mirror State) {
	s, err := suiteByID(id)
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.Repeat([]byte{1}, s.hashLen)
	w := bytes.Repeat([]byte{2}, s.hashLen)
	return State{Suite: id, ReadSecret: r, WriteSecret: w, ReadSeq: 7, WriteSeq: 3},
		State{Suite: id, ReadSecret: w, WriteSecret: r, ReadSeq: 3, WriteSeq: 7}
}

// TestConnSuites runs data and KeyUpdates both ways between two Conns,
// for each suite.
func TestConnSuites(t *testing.T) {
	for _, id := range []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256} {
		st, mirror := testState(t, id)
		a, b := tcpPair(t)
		ca, err := NewConn(a, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		cb, err := NewConn(b, mirror, nil)
		if err != nil {
			t.Fatal(err)
		}
		say(t, ca, cb, []byte("hello"))
		say(t, cb, ca, bytes.Repeat([]byte{9}, 100000))
		ca.KeyUpdate(true)
		say(t, ca, cb, []byte("after"))
		say(t, cb, ca, []byte("answered"))
		cb.KeyUpdate(false)
		say(t, cb, ca, []byte("again"))
		// Sleeper-side Seal and OpenData on exported states agree.
		sa, err := ca.Export()
		if err != nil {
			t.Fatal(err)
		}
		sb, err := cb.Export()
		if err != nil {
			t.Fatal(err)
		}
		rec, err := sa.Seal(nil, []byte("* OK Still here\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		got, used, err := sb.OpenData(nil, append(rec, 23, 3, 3)) // and the start of another
		if err != nil || used != len(rec) || string(got) != "* OK Still here\r\n" {
			t.Fatalf("OpenData: %q %d %v", got, used, err)
		}
		if sb.ReadSeq != sa.WriteSeq {
			t.Fatalf("sequence numbers %d, %d", sb.ReadSeq, sa.WriteSeq)
		}
	}
}

// TestConnAlerts feeds a Conn bad records and checks the alert it sends
// back before it closes.
func TestConnAlerts(t *testing.T) {
	st, mirror := testState(t, TLS_AES_128_GCM_SHA256)
	seal := func(typ byte, p []byte) []byte {
		_, out, _ := mirror.halves()
		b, err := out.seal(nil, typ, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name  string
		raw   []byte
		alert int // -1: none sent (close_notify received)
		err   error
	}{
		{"bad mac", func() []byte { b := seal(typeApplicationData, []byte("x")); b[7] ^= 1; return b }(), alertBadRecordMAC, nil},
		{"overflow header", []byte{23, 3, 3, 0x41, 0x01}, alertRecordOverflow, nil},
		{"ticket", seal(typeHandshake, []byte{4, 0, 0, 1, 0}), alertUnexpectedMessage, nil},
		{"key update request 2", seal(typeHandshake, []byte{24, 0, 0, 1, 2}), alertIllegalParameter, nil},
		{"key update and more", seal(typeHandshake, []byte{24, 0, 0, 1, 0, 24}), alertDecodeError, nil},
		{"unprotected handshake", []byte{22, 3, 3, 0, 1, 0}, alertUnexpectedMessage, nil},
		{"change cipher spec", seal(typeChangeCipherSpec, []byte{1}), alertUnexpectedMessage, nil},
		{"no content type", seal(0, nil), alertUnexpectedMessage, nil},
		{"inner overflow", seal(typeApplicationData, make([]byte, maxPlaintext))[:0], alertRecordOverflow, nil},
		{"close notify", seal(typeAlert, []byte{1, 0}), -1, io.EOF},
		{"peer alert", seal(typeAlert, []byte{2, 40}), -1, &AlertError{}},
	}
	// inner overflow: a record of 2^14+1 content bytes, sealed without
	// seal's own limit.
	{
		_, out, _ := mirror.halves()
		p := append(make([]byte, maxPlaintext+1), typeApplicationData)
		n := len(p) + tagLen
		hdr := []byte{23, 3, 3, byte(n >> 8), byte(n)}
		nonce := out.nonce(out.seq)
		tests[8].raw = out.aead.Seal(hdr, nonce[:], p, hdr)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tcpPair(t)
			c, err := NewConn(a, st, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Write(tt.raw); err != nil {
				t.Fatal(err)
			}
			_, rerr := c.Read(make([]byte, 100))
			if rerr == nil {
				t.Fatal("read succeeded")
			}
			var ae *AlertError
			if tt.alert >= 0 && (!errors.As(rerr, &ae) || int(ae.Alert) != tt.alert) {
				t.Fatalf("read error %v, want alert %d", rerr, tt.alert)
			}
			if tt.err == io.EOF && rerr != io.EOF {
				t.Fatalf("read error %v, want EOF", rerr)
			}
			if tt.alert < 0 {
				return
			}
			// The alert, sealed with the Conn's write key.
			b.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(b)
			if err != nil {
				t.Fatal(err)
			}
			in, _, _ := mirror.halves()
			typ, content, err := in.open(got)
			if err != nil || typ != typeAlert || len(content) != 2 || content[0] != 2 || int(content[1]) != tt.alert {
				t.Fatalf("sent %x: %d %x %v", got, typ, content, err)
			}
		})
	}
}

// TestStateClosing: a sleeper's state tells a client's close_notify or
// error alert (a close) from what a woken Conn must read.
func TestStateClosing(t *testing.T) {
	st, mirror := testState(t, TLS_AES_128_GCM_SHA256)
	seal := func(typ byte, p []byte) []byte {
		_, out, _ := mirror.halves()
		b, err := out.seal(nil, typ, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	closeNotify := seal(typeAlert, []byte{1, alertCloseNotify})
	tests := []struct {
		name string
		raw  []byte
		want bool
	}{
		{"close notify", closeNotify, true},
		{"close notify and more", append(append([]byte(nil), closeNotify...), 23, 3), true},
		{"fatal alert", seal(typeAlert, []byte{2, 40}), true},
		{"user canceled", seal(typeAlert, []byte{1, alertUserCanceled}), false},
		{"half a close notify", closeNotify[:len(closeNotify)-1], false},
		{"header only", closeNotify[:headerLen], false},
		{"data", seal(typeApplicationData, []byte("a1 NOOP\r\n")), false},
		{"key update", seal(typeHandshake, []byte{24, 0, 0, 1, 0}), false},
		{"wrong key", func() []byte { b := append([]byte(nil), closeNotify...); b[7] ^= 1; return b }(), false},
		{"nothing", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := st
			if got := st.Closing(tt.raw); got != tt.want {
				t.Fatalf("Closing = %v, want %v", got, tt.want)
			}
			if st.ReadSeq != before.ReadSeq {
				t.Fatalf("ReadSeq moved from %d to %d", before.ReadSeq, st.ReadSeq)
			}
		})
	}
}

func TestPartial(t *testing.T) {
	rec := []byte{23, 3, 3, 0, 20}
	rec = append(rec, make([]byte, 20)...)
	tests := []struct {
		name string
		raw  []byte
		want bool
	}{
		{"nothing", nil, false},
		{"part of a header", rec[:3], true},
		{"header", rec[:headerLen], true},
		{"all but one byte", rec[:len(rec)-1], true},
		{"whole", rec, false},
		{"whole and more", append(append([]byte(nil), rec...), 23), false},
		{"overflowing header", []byte{23, 3, 3, 0x41, 0x01}, false},
	}
	for _, tt := range tests {
		if got := Partial(tt.raw); got != tt.want {
			t.Errorf("%s: Partial = %v, want %v", tt.name, got, tt.want)
		}
	}
}
