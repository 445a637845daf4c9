//go:build unix

package hibernate

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// runtimeFD returns the descriptor of c without taking it from the Go
// runtime (no dup, c stays open and registered with the netpoller), as a
// hibernated TLS connection's socket is watched.
func runtimeFD(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestPollerSharesRuntimeSocket shows that a socket the Go runtime still
// owns can be watched by the Poller too: the runtime's netpoller and the
// Poller's epoll each register it, and neither disturbs the other. The
// Poller fires for bytes that arrive while it is armed (and for bytes
// that were waiting when it was armed); afterwards the runtime reads them
// as usual through the net.Conn; a disarmed socket does not fire.
func TestPollerSharesRuntimeSocket(t *testing.T) {
	for _, impl := range pollerImpls() {
		t.Run(impl.name, func(t *testing.T) {
			ln := listen(t)
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			srv, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			fd := runtimeFD(t, srv)
			p, ch := startPoller(t, impl.new)
			fired := func(want uint64) {
				t.Helper()
				select {
				case got := <-ch:
					if got != want {
						t.Fatalf("token %d, want %d", got, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no callback within 5 s")
				}
			}
			read := func(want string) {
				t.Helper()
				srv.SetReadDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, len(want))
				if _, err := io.ReadFull(srv, buf); err != nil || string(buf) != want {
					t.Fatalf("runtime read %q, %v; want %q", buf, err, want)
				}
			}

			// Armed first, then bytes arrive.
			if err := p.Add(fd, 1); err != nil {
				t.Fatal(err)
			}
			client.Write([]byte("x"))
			fired(1)
			read("x")

			// Bytes waiting before Add fire at once.
			client.Write([]byte("y"))
			waitReadable(t, fd)
			if err := p.Add(fd, 2); err != nil {
				t.Fatal(err)
			}
			fired(2)
			read("y")

			// Disarmed: no callback; the runtime still reads.
			if err := p.Add(fd, 3); err != nil {
				t.Fatal(err)
			}
			if err := p.Remove(fd); err != nil {
				t.Fatal(err)
			}
			client.Write([]byte("z"))
			read("z")
			select {
			case tok := <-ch:
				t.Fatalf("callback %d after Remove", tok)
			case <-time.After(50 * time.Millisecond):
			}

			// The peer's close fires too, and the runtime sees EOF.
			if err := p.Add(fd, 4); err != nil {
				t.Fatal(err)
			}
			client.Close()
			fired(4)
			srv.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := srv.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("after the peer closed: %d, %v; want EOF", n, err)
			}
		})
	}
}
