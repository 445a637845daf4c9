//go:build unix

package hibernate

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitReadable waits (poll(2), a minute at the most) until fd has input,
// so that bytes a test wrote are in the socket before it goes on.
func waitReadable(t testing.TB, fd int) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(time.Minute/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("fd %d not readable within a minute: %v", fd, err)
		}
		return
	}
}

// testPoller is the Poller contract, so the tests run against the epoll
// poller and the portable one alike.
type testPoller interface {
	Add(fd int, token uint64) error
	Remove(fd int) error
	Close() error
}

func pollerImpls() []struct {
	name string
	new  func(func(uint64)) (testPoller, error)
} {
	return []struct {
		name string
		new  func(func(uint64)) (testPoller, error)
	}{
		{"Poller", func(f func(uint64)) (testPoller, error) { return NewPoller(f) }},
		{"portable", func(f func(uint64)) (testPoller, error) { return newPortablePoller(f) }},
	}
}

// loopbackPair returns a detached server-side descriptor and the client
// end of a 127.0.0.1 TCP connection; both are closed at cleanup.
func loopbackPair(t testing.TB, ln net.Listener) (fd int, client net.Conn) {
	t.Helper()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	fd, err = Detach(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		syscall.Close(fd)
	})
	return fd, client
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// startPoller returns a poller whose callbacks arrive on a channel.
func startPoller(t *testing.T, newP func(func(uint64)) (testPoller, error)) (testPoller, chan uint64) {
	t.Helper()
	ch := make(chan uint64, 4096)
	p, err := newP(func(tok uint64) { ch <- tok })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, ch
}

func wantToken(t *testing.T, ch chan uint64, want uint64) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("woke token %d, want %d", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("token %d did not wake", want)
	}
}

func wantQuiet(t *testing.T, ch chan uint64) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected wake of token %d", got)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestPoller(t *testing.T) {
	for _, impl := range pollerImpls() {
		t.Run(impl.name, func(t *testing.T) {
			t.Run("client bytes wake, and the conn comes back intact", func(t *testing.T) {
				p, ch := startPoller(t, impl.new)
				fd, client := loopbackPair(t, listen(t))
				if err := p.Add(fd, 42); err != nil {
					t.Fatal(err)
				}
				wantQuiet(t, ch)
				client.Write([]byte("DONE\r\n"))
				wantToken(t, ch, 42)
				if err := p.Remove(fd); !errors.Is(err, ErrNotRegistered) {
					t.Fatalf("Remove after wake = %v, want ErrNotRegistered", err)
				}
				d, _ := syscall.Dup(fd) // Attach consumes its descriptor
				c, err := Attach(d)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, ok := c.(*net.TCPConn); !ok {
					t.Errorf("Attach returned %T, want *net.TCPConn", c)
				}
				buf := make([]byte, 6)
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "DONE\r\n" {
					t.Fatalf("read after wake = %q, %v", buf, err)
				}
				c.Write([]byte("A1 OK IDLE terminated\r\n"))
				buf = make([]byte, 23)
				if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "A1 OK IDLE terminated\r\n" {
					t.Fatalf("client read = %q, %v", buf, err)
				}
			})
			t.Run("peer close wakes", func(t *testing.T) {
				p, ch := startPoller(t, impl.new)
				fd, client := loopbackPair(t, listen(t))
				if err := p.Add(fd, 7); err != nil {
					t.Fatal(err)
				}
				client.Close()
				wantToken(t, ch, 7)
			})
			t.Run("bytes waiting before Add wake", func(t *testing.T) {
				p, ch := startPoller(t, impl.new)
				fd, client := loopbackPair(t, listen(t))
				client.Write([]byte("x"))
				waitReadable(t, fd)
				if err := p.Add(fd, 9); err != nil {
					t.Fatal(err)
				}
				wantToken(t, ch, 9)
			})
			t.Run("Remove before wake", func(t *testing.T) {
				p, ch := startPoller(t, impl.new)
				fd, client := loopbackPair(t, listen(t))
				if err := p.Add(fd, 1); err != nil {
					t.Fatal(err)
				}
				if err := p.Add(fd, 1); err == nil {
					t.Fatal("second Add of an armed fd succeeded")
				}
				if err := p.Remove(fd); err != nil {
					t.Fatal(err)
				}
				client.Write([]byte("x"))
				wantQuiet(t, ch)
				if err := p.Remove(fd); !errors.Is(err, ErrNotRegistered) {
					t.Fatalf("second Remove = %v, want ErrNotRegistered", err)
				}
				// Re-armed, it fires for the byte already waiting.
				if err := p.Add(fd, 2); err != nil {
					t.Fatal(err)
				}
				wantToken(t, ch, 2)
			})
			t.Run("sleep, wake, sleep again", func(t *testing.T) {
				p, ch := startPoller(t, impl.new)
				fd, client := loopbackPair(t, listen(t))
				for i := range uint64(3) {
					if err := p.Add(fd, i); err != nil {
						t.Fatal(err)
					}
					client.Write([]byte("DONE\r\nA2 IDLE\r\n"))
					wantToken(t, ch, i)
					buf := make([]byte, 64)
					if _, err := syscall.Read(fd, buf); err != nil {
						t.Fatal(err)
					}
				}
			})
			t.Run("many", func(t *testing.T) {
				p, ch := startPoller(t, impl.new)
				ln := listen(t)
				const n = 200
				fds := make([]int, n)
				clients := make([]net.Conn, n)
				for i := range n {
					fds[i], clients[i] = loopbackPair(t, ln)
					if err := p.Add(fds[i], uint64(1000+i)); err != nil {
						t.Fatal(err)
					}
				}
				for i := 0; i < n; i += 2 {
					clients[i].Write([]byte("DONE\r\n"))
				}
				woke := make(map[uint64]bool)
				for range n / 2 {
					select {
					case tok := <-ch:
						if woke[tok] || tok < 1000 || tok >= 1000+n || (tok-1000)%2 != 0 {
							t.Fatalf("unexpected wake %d", tok)
						}
						woke[tok] = true
					case <-time.After(5 * time.Second):
						t.Fatalf("only %d of %d woke", len(woke), n/2)
					}
				}
				wantQuiet(t, ch)
				for i := 1; i < n; i += 2 {
					if err := p.Remove(fds[i]); err != nil {
						t.Fatalf("Remove %d: %v", i, err)
					}
				}
			})
			t.Run("Close", func(t *testing.T) {
				ch := make(chan uint64, 1)
				p, err := impl.new(func(tok uint64) { ch <- tok })
				if err != nil {
					t.Fatal(err)
				}
				fd, client := loopbackPair(t, listen(t))
				if err := p.Add(fd, 3); err != nil {
					t.Fatal(err)
				}
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
				client.Write([]byte("x"))
				wantQuiet(t, ch)
				if err := p.Add(fd, 4); !errors.Is(err, ErrPollerClosed) {
					t.Fatalf("Add after Close = %v", err)
				}
				if err := p.Close(); !errors.Is(err, ErrPollerClosed) {
					t.Fatalf("second Close = %v", err)
				}
			})
		})
	}
}

// TestDetachKeepsConnection checks that closing the net.TCPConn in Detach
// does not end the TCP connection: the client sees neither EOF nor RST.
func TestDetachKeepsConnection(t *testing.T) {
	fd, client := loopbackPair(t, listen(t))
	client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	if _, err := client.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("client read after Detach = %v, want a timeout", err)
	}
	if _, err := syscall.Write(fd, []byte("* OK Still here\r\n")); err != nil {
		t.Fatalf("write to detached fd: %v", err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 17)
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "* OK Still here\r\n" {
		t.Fatalf("client read = %q, %v", buf, err)
	}
}

func TestDetachRejects(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := Detach(a); err == nil {
		t.Fatal("Detach(net.Pipe) succeeded")
	}
}
