package hibernate

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
)

// portablePoller implements the Poller contract (poller.go) where epoll
// is absent, with what the Go runtime offers everywhere: each descriptor
// gets a runtime-registered duplicate and one parked goroutine waiting on
// it (kqueue, event ports or IOCP underneath). A sleeping connection
// still costs a goroutine (~2.5 KB with its stack) and a poll descriptor,
// but no buffers and no session. It is built on every platform so that
// Linux tests exercise it too.
type portablePoller struct {
	ready func(token uint64)

	mu     sync.Mutex
	regs   map[int]*registration
	closed bool
	wg     sync.WaitGroup
}

type registration struct {
	c     net.Conn // the runtime-owned duplicate, closed when done
	token uint64
}

func newPortablePoller(ready func(token uint64)) (*portablePoller, error) {
	if ready == nil {
		return nil, errors.New("hibernate: new poller: nil ready func")
	}
	return &portablePoller{ready: ready, regs: make(map[int]*registration)}, nil
}

// Add is Poller.Add.
func (p *portablePoller) Add(fd int, token uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPollerClosed
	}
	if _, ok := p.regs[fd]; ok {
		return fmt.Errorf("hibernate: poller add fd %d: already armed", fd)
	}
	// Watch a duplicate: the runtime then owns (and eventually closes)
	// its own descriptor, and the caller's stays untouched.
	d, err := dupCloexec(fd)
	if err != nil {
		return fmt.Errorf("hibernate: poller add fd %d: dup: %w", fd, err)
	}
	f := os.NewFile(uintptr(d), "hibernated")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("hibernate: poller add fd %d: %w", fd, err)
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		c.Close()
		return fmt.Errorf("hibernate: poller add fd %d: %T is not a syscall.Conn", fd, c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		c.Close()
		return fmt.Errorf("hibernate: poller add fd %d: %w", fd, err)
	}
	r := &registration{c: c, token: token}
	p.regs[fd] = r
	p.wg.Add(1)
	go p.watch(fd, r, rc)
	return nil
}

// watch parks until fd is readable or its registration is closed.
func (p *portablePoller) watch(fd int, r *registration, rc syscall.RawConn) {
	defer p.wg.Done()
	// RawConn.Read calls the func again each time the runtime reports
	// readiness until it returns true. Peeking first, rather than
	// waiting first, catches bytes that arrived before registration.
	rc.Read(func(s uintptr) bool { return readable(int(s)) })
	p.mu.Lock()
	fire := !p.closed && p.regs[fd] == r
	if fire {
		delete(p.regs, fd)
	}
	p.mu.Unlock()
	r.c.Close()
	if fire {
		p.ready(r.token)
	}
}

// Remove is Poller.Remove.
func (p *portablePoller) Remove(fd int) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPollerClosed
	}
	r, ok := p.regs[fd]
	delete(p.regs, fd)
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("hibernate: poller remove fd %d: %w", fd, ErrNotRegistered)
	}
	// Closing the duplicate ends the parked Read; the caller's
	// descriptor stays open.
	r.c.Close()
	return nil
}

// Close is Poller.Close.
func (p *portablePoller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPollerClosed
	}
	p.closed = true
	regs := p.regs
	p.regs = nil
	p.mu.Unlock()
	for _, r := range regs {
		r.c.Close()
	}
	p.wg.Wait()
	return nil
}
