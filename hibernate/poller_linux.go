//go:build linux

package hibernate

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Poller watches the descriptors of sleeping connections with one epoll
// instance and one goroutine, so a sleeping connection costs the kernel's
// epoll item and 16 bytes here, and no goroutine, stack or runtime poll
// descriptor. See poller.go for the contract.
type Poller struct {
	epfd  int
	evfd  int // eventfd that wakes the loop for Close
	ready func(token uint64)

	mu     sync.Mutex
	fds    []armed // by descriptor number: dense, since the kernel hands out the lowest free number
	closed bool
	done   chan struct{}
}

// armed is the registration of one descriptor. gen tells a stale event
// (for a number since removed, closed and reused) from a current one: it
// travels in the event's data beside the descriptor number.
type armed struct {
	token uint64
	gen   uint32
	on    bool
}

// The eventfd's event carries generation 0, which no registration uses.

// NewPoller starts a poller that calls ready with the token of each
// descriptor that becomes readable.
func NewPoller(ready func(token uint64)) (*Poller, error) {
	if ready == nil {
		return nil, errors.New("hibernate: new poller: nil ready func")
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("hibernate: epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("hibernate: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setData(&ev, uint64(evfd))
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return nil, fmt.Errorf("hibernate: epoll_ctl eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, evfd: evfd, ready: ready, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// setData stores 64 bits of user data in ev. x/sys/unix splits the
// kernel's epoll_data union into Fd and Pad on every Linux port.
func setData(ev *unix.EpollEvent, d uint64) {
	ev.Fd = int32(uint32(d))
	ev.Pad = int32(uint32(d >> 32))
}

func getData(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// Add arms fd: ready(token) is called once when it becomes readable,
// including when data is already waiting. fd must be a non-blocking
// socket the caller owns (see DetachTCP).
func (p *Poller) Add(fd int, token uint64) error {
	if fd < 0 || fd > 1<<31-1 {
		return fmt.Errorf("hibernate: poller add fd %d: out of range", fd)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPollerClosed
	}
	for fd >= len(p.fds) {
		p.fds = append(p.fds, armed{})
	}
	a := &p.fds[fd]
	if a.on {
		return fmt.Errorf("hibernate: poller add fd %d: already armed", fd)
	}
	a.gen++
	if a.gen == 0 {
		a.gen = 1 // 0 marks the eventfd
	}
	a.token = token
	a.on = true
	// EPOLLRDHUP reports a peer's FIN even with nothing to read, and
	// EPOLLONESHOT disarms the descriptor on the first event, so one Add
	// yields one event however long the callback takes.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setData(&ev, uint64(fd)|uint64(a.gen)<<32)
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		a.on = false
		return fmt.Errorf("hibernate: epoll_ctl add fd %d: %w", fd, err)
	}
	return nil
}

// Remove disarms fd. It returns ErrNotRegistered when fd is not armed,
// in particular when it has fired: then the callback has run or is about
// to, and the caller must treat the connection as waking.
func (p *Poller) Remove(fd int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPollerClosed
	}
	if fd < 0 || fd >= len(p.fds) || !p.fds[fd].on {
		return fmt.Errorf("hibernate: poller remove fd %d: %w", fd, ErrNotRegistered)
	}
	p.fds[fd].on = false
	return p.del(fd)
}

// del takes fd out of the epoll set; p.mu is held, so that the number
// cannot be closed and reused by another Add in between.
func (p *Poller) del(fd int) error {
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil && err != unix.ENOENT {
		return fmt.Errorf("hibernate: epoll_ctl del fd %d: %w", fd, err)
	}
	return nil
}

// loop is the poller's one goroutine. It blocks in epoll_wait, which
// parks an OS thread in the kernel, not the Go scheduler: one thread for
// all sleeping connections.
func (p *Poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	tokens := make([]uint64, 0, len(events))
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// Only a bad epfd fails here, which Close prevents; end
			// rather than spin.
			return
		}
		tokens = tokens[:0]
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		for i := range events[:n] {
			d := getData(&events[i])
			fd, gen := int(uint32(d)), uint32(d>>32)
			if gen == 0 || fd >= len(p.fds) {
				continue
			}
			a := &p.fds[fd]
			if !a.on || a.gen != gen {
				continue // removed, or a stale event for a reused number
			}
			a.on = false
			// Leave the set now, so that the descriptor can be
			// closed, handed back to the runtime, or added again.
			p.del(fd)
			tokens = append(tokens, a.token)
		}
		p.mu.Unlock()
		for _, t := range tokens {
			p.ready(t)
		}
	}
}

// Close stops the poller and waits for its goroutine; ready is not
// called after Close returns. Descriptors still armed are left open and
// disarmed: they belong to the caller.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPollerClosed
	}
	p.closed = true
	p.mu.Unlock()
	var one = [8]byte{1}
	if _, err := unix.Write(p.evfd, one[:]); err != nil {
		return fmt.Errorf("hibernate: poller close: wake loop: %w", err)
	}
	<-p.done
	unix.Close(p.evfd)
	return unix.Close(p.epfd)
}
