//go:build linux

package hibernate

import (
	"bufio"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// memSnapshot is the runtime memory a measurement compares: the live heap
// and the goroutine stacks, and OtherSys, where the runtime's poll
// descriptors live (persistentalloc, outside the heap, reused but never
// freed; so only their first allocation shows there).
type memSnapshot struct{ heap, stack, other uint64 }

func memNow() memSnapshot {
	runtime.GC()
	runtime.GC() // the second pass frees what finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnapshot{heap: ms.HeapAlloc, stack: ms.StackInuse, other: ms.OtherSys}
}

// rawDial connects a client socket that the Go runtime does not know, so
// the client ends cost the measured heap nothing.
func rawDial(t *testing.T, port int) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	return fd
}

// idleShape is one way of holding an idle server connection.
type idleShape struct {
	name string
	max  int // connections, below the 20,000-file limit
	// pollDescs is how many runtime poll descriptors one connection
	// keeps (a net.Conn has one).
	pollDescs int
	// setup runs after the baseline snapshot: what it allocates counts.
	// hold takes one accepted connection; teardown releases all.
	setup    func(t *testing.T, n int)
	hold     func(t *testing.T, i int, c net.Conn)
	settle   func()
	teardown func()
}

// TestMeasureSockets reports the runtime memory of an idle connection held
// four ways, over up to 8,000 loopback connections. It runs only with
// DORMOUSE_MEASURE=1:
//
//	DORMOUSE_MEASURE=1 go test -run MeasureSockets -v ./hibernate/
//
// DORMOUSE_MEASURE_CONNS changes the number of connections.
func TestMeasureSockets(t *testing.T) {
	if os.Getenv("DORMOUSE_MEASURE") == "" {
		t.Skip("set DORMOUSE_MEASURE=1 to measure")
	}
	n := 8000
	if s := os.Getenv("DORMOUSE_MEASURE_CONNS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		n = v
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	var parked sync.WaitGroup
	var tb *Table
	var portable *portablePoller
	fds := make([]int, n)
	blob := measureBlob(t)
	// rawShape is the hibernated connection: detached, its descriptor
	// in the epoll Poller, its state in a Table.
	rawShape := func(name string, blob []byte) idleShape {
		var poller *Poller
		return idleShape{
			name: name,
			max:  n,
			setup: func(t *testing.T, n int) {
				var err error
				poller, err = NewPoller(func(uint64) {})
				if err != nil {
					t.Fatal(err)
				}
				tb = NewTable(TableConfig{})
			},
			hold: func(t *testing.T, i int, c net.Conn) {
				fd, err := Detach(c)
				if err != nil {
					t.Fatal(err)
				}
				fds[i] = fd
				tok, err := tb.Insert(fd, "user"+strconv.Itoa(i/4)+"@example.org", "INBOX", blob, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if err := poller.Add(fd, uint64(tok)); err != nil {
					t.Fatal(err)
				}
			},
			teardown: func() {
				for _, fd := range fds {
					poller.Remove(fd)
					unix.Close(fd)
				}
				poller.Close()
				runtime.KeepAlive(tb)
				tb, poller = nil, nil
			},
		}
	}

	shapes := []idleShape{
		{
			name:      "(a) goroutine + two 4 KiB bufio buffers",
			max:       n,
			pollDescs: 1,
			hold: func(t *testing.T, i int, c net.Conn) {
				conns[i] = c
				wg.Add(1)
				parked.Add(1)
				go func() {
					defer wg.Done()
					r := bufio.NewReaderSize(c, 4096)
					w := bufio.NewWriterSize(c, 4096)
					w.WriteString("+ idling\r\n") // buffered, like a session between flushes
					parked.Done()
					r.ReadLine()
					runtime.KeepAlive(w)
				}()
			},
			settle: func() { parked.Wait(); time.Sleep(100 * time.Millisecond) },
			teardown: func() {
				for _, c := range conns {
					c.Close()
				}
				wg.Wait()
			},
		},
		{
			name:      "(b) no goroutine, *net.TCPConn kept",
			max:       n,
			pollDescs: 1,
			hold:      func(t *testing.T, i int, c net.Conn) { conns[i] = c },
			teardown: func() {
				for _, c := range conns {
					c.Close()
				}
			},
		},
		rawShape("(c) raw fd in the epoll Poller + Table entry with a ~100 B blob", blob),
		rawShape("(c') the same with the typical 47 B blob (stored inline)", benchBlob(t)),
		{
			// The fallback holds a duplicate per connection: three
			// descriptors each, so fewer fit.
			name:      "(d) raw fd in the portable Poller (goroutine each) + Table entry",
			max:       min(n, 6000),
			pollDescs: 1,
			setup: func(t *testing.T, n int) {
				var err error
				portable, err = newPortablePoller(func(uint64) {})
				if err != nil {
					t.Fatal(err)
				}
				tb = NewTable(TableConfig{})
			},
			hold: func(t *testing.T, i int, c net.Conn) {
				fd, err := Detach(c)
				if err != nil {
					t.Fatal(err)
				}
				fds[i] = fd
				tok, err := tb.Insert(fd, "user"+strconv.Itoa(i/4)+"@example.org", "INBOX", blob, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if err := portable.Add(fd, uint64(tok)); err != nil {
					t.Fatal(err)
				}
			},
			settle: func() { time.Sleep(100 * time.Millisecond) },
			teardown: func() {
				for _, fd := range fds[:min(n, 6000)] {
					portable.Remove(fd)
					unix.Close(fd)
				}
				portable.Close()
				runtime.KeepAlive(tb)
				tb, portable = nil, nil
			},
		},
	}
	t.Logf("blob: %d bytes; user names (user<i/4>@example.org, 4 connections each) are allocated inside the measurement", len(blob))
	var pollDesc float64
	for _, s := range shapes {
		m := s.max
		clients := make([]int, m)
		// Drop the previous shape's connections before the baseline.
		clear(conns)
		for i := range fds {
			fds[i] = -1
		}
		before := memNow()
		if s.setup != nil {
			s.setup(t, m)
		}
		for i := range m {
			clients[i] = rawDial(t, port)
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			s.hold(t, i, c)
		}
		if s.settle != nil {
			s.settle()
		}
		after := memNow()
		heap := float64(int64(after.heap)-int64(before.heap)) / float64(m)
		stack := float64(int64(after.stack)-int64(before.stack)) / float64(m)
		if pollDesc == 0 {
			// The first shape allocates the poll descriptors that
			// the later ones reuse: measure their size here.
			pollDesc = float64(int64(after.other)-int64(before.other)) / float64(m)
		}
		pd := pollDesc * float64(s.pollDescs)
		t.Logf("%-66s %5d conns: %6.0f B/conn = heap %5.0f + stack %5.0f + poll descriptor %3.0f",
			s.name, m, heap+stack+pd, heap, stack, pd)
		for _, fd := range clients {
			unix.Close(fd)
		}
		s.teardown()
	}
}

// measureBlob is a ~100-byte state blob: the typical one plus some
// extension state.
func measureBlob(t *testing.T) []byte {
	s := typicalState()
	s.ExtState = []ExtState{{Kind: 1, Data: make([]byte, 50)}}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
