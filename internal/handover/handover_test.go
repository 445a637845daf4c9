//go:build linux

package handover

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// pair returns a connected SEQPACKET pair: a Conn to receive on and the
// raw descriptor of the other end, to send anything at all through.
func pair(t *testing.T) (*Conn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "handover")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(nc.(*net.UnixConn))
	t.Cleanup(func() { c.Close(); unix.Close(fds[1]) })
	return c, fds[1]
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// sockets returns a listening TCP socket and a connected one, as
// descriptors owned by the test.
func sockets(t *testing.T) (listening, connected int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close(); cf.Close() })
	return int(lf.Fd()), int(cf.Fd())
}

func TestReceiveRefusesHostileMessages(t *testing.T) {
	lfd, cfd := sockets(t)
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(pipe[0]); unix.Close(pipe[1]) })
	udp, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(udp) })

	for _, tc := range []struct {
		name    string
		payload []byte
		fds     []int
		want    string
	}{
		{"unknown kind", []byte("Xhello"), nil, "unknown message kind"},
		{"sleeper without descriptor", []byte("Sblob"), nil, "0 descriptors"},
		{"sleeper with two descriptors", []byte("Sblob"), []int{cfd, cfd}, "2 descriptors"},
		{"hello with a descriptor", []byte("H" + helloText), []int{cfd}, "unexpected descriptor"},
		{"wrong hello", []byte("Hdormouse-handover 9"), nil, "hello"},
		{"hello too long", []byte("H" + helloText + "!"), nil, "payload"},
		{"sleeper with a listening socket", []byte("Sblob"), []int{lfd}, "listening"},
		{"listener with a connection", []byte("Limap"), []int{cfd}, "not listening"},
		{"sleeper with a pipe", []byte("Sblob"), []int{pipe[0]}, "not a socket"},
		{"sleeper with a datagram socket", []byte("Sblob"), []int{udp}, "want a stream"},
		{"listener name too long", []byte("L" + strings.Repeat("i", 17)), []int{lfd}, "payload"},
		{"ready with payload", []byte("Rx"), nil, "payload"},
		{"packet longer than any message", append([]byte("S"), make([]byte, MaxPayload+10)...), []int{cfd}, "longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := pair(t)
			before := openFDs(t)
			var oob []byte
			if len(tc.fds) > 0 {
				oob = unix.UnixRights(tc.fds...)
			}
			if err := unix.Sendmsg(peer, tc.payload, oob, nil, 0); err != nil {
				t.Fatal(err)
			}
			m, err := c.Receive()
			if err == nil {
				t.Fatalf("accepted %q with fd %d", m.Kind, m.FD)
			}
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a protocol error saying %q", err, tc.want)
			}
			if after := openFDs(t); after != before {
				t.Fatalf("%d descriptors open after the refusal, %d before: a received one leaked", after, before)
			}
		})
	}
}

func TestConversationRoundTrip(t *testing.T) {
	lfd, cfd := sockets(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := [2]*Conn{}
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "handover")
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = NewConn(nc.(*net.UnixConn))
		defer conns[i].Close()
	}
	old, nu := conns[0], conns[1]
	if err := nu.Send(Message{Kind: Hello, FD: -1, Payload: []byte(helloText)}); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Expect(Hello); err != nil {
		t.Fatal(err)
	}
	sent := []Message{
		{Kind: Listener, FD: lfd, Payload: []byte("imap")},
		{Kind: Listeners, FD: -1},
		{Kind: Sleeper, FD: cfd, Payload: []byte("a blob")},
	}
	for _, m := range sent {
		if err := old.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.SendSummary(Summary{Moved: 1, NotMoved: map[string]int{"tls": 2}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range sent {
		m, err := nu.Expect(want.Kind)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Payload) != string(want.Payload) || (m.FD >= 0) != (want.FD >= 0) {
			t.Fatalf("got %q %q fd %d, want %q %q", m.Kind, m.Payload, m.FD, want.Kind, want.Payload)
		}
		if m.FD >= 0 {
			if m.FD == want.FD {
				t.Fatalf("received the sender's own descriptor number %d", m.FD)
			}
			unix.Close(m.FD)
		}
	}
	m, err := nu.Expect(End)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSummary(m.Payload)
	if err != nil || s.Moved != 1 || s.NotMoved["tls"] != 2 {
		t.Fatalf("summary %+v, %v", s, err)
	}
	for _, bad := range []string{`{"moved":-1}`, `{"moved":1,"not_moved":{"tls":-3}}`, `not json`} {
		if _, err := ParseSummary([]byte(bad)); !errors.Is(err, ErrProtocol) {
			t.Errorf("summary %s: %v, want a protocol error", bad, err)
		}
	}
	// Send refuses what Receive would.
	for _, m := range []Message{{Kind: Sleeper, FD: -1}, {Kind: Ready, FD: cfd}, {Kind: 'X', FD: -1}} {
		if err := old.Send(m); err == nil {
			t.Errorf("sent malformed %q fd %d", m.Kind, m.FD)
		}
	}
}
