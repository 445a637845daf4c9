package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/handover"
)

// An upgrade without dropping idle clients (docs/design.md, "Upgrade:
// handing over"). The running server listens on the handover socket,
// DATA/upgrade.sock (mode 0600, like admin.sock). `dormouse serve
// --takeover` connects to it and receives the listening sockets, then
// every hibernated IMAP connection, descriptor and state blob
// (internal/handover); the old process then exits.

// upgradeSocketName is the handover socket's name in the data folder.
const upgradeSocketName = "upgrade.sock"

// errUpgradePathTooLong says the data folder's path is too long for the
// handover socket: the server runs, but cannot be upgraded in place.
var errUpgradePathTooLong = errors.New("path longer than a UNIX socket allows (107 bytes): `dormouse serve --takeover` needs a shorter data folder path")

// upgradeListener is the old side: it waits for a new process.
type upgradeListener struct {
	ln   *net.UnixListener
	log  *slog.Logger
	reqs chan *handover.Conn
	wg   sync.WaitGroup
	once sync.Once
}

// listenUpgrade opens the handover socket at path; a socket file left
// there is replaced (listenAdmin has found no live server already).
func listenUpgrade(path string, log *slog.Logger) (*upgradeListener, error) {
	if len(path) >= 108 { // sun_path
		return nil, fmt.Errorf("handover socket %s: %w", path, errUpgradePathTooLong)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("handover socket: %w", err)
	}
	ln, err := handover.Listen(path)
	if err != nil {
		return nil, err
	}
	u := &upgradeListener{ln: ln, log: log, reqs: make(chan *handover.Conn)}
	u.wg.Add(1)
	go u.accept()
	return u, nil
}

// accept passes each connection that says Hello to requests; the serve
// loop takes one and closes the listener.
func (u *upgradeListener) accept() {
	defer u.wg.Done()
	for {
		c, err := u.ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				u.log.Error("handover socket", "err", err)
			}
			return
		}
		hc := handover.NewConn(c)
		if _, err := hc.Expect(handover.Hello); err != nil {
			u.log.Warn("upgrade: refused", "err", err)
			hc.Close()
			continue
		}
		select {
		case u.reqs <- hc:
		case <-time.After(handover.Timeout):
			hc.Close()
		}
	}
}

// requests yields the new processes asking to take over; nil on nil.
func (u *upgradeListener) requests() <-chan *handover.Conn {
	if u == nil {
		return nil
	}
	return u.reqs
}

// close stops listening and removes the socket; it may be called again,
// and on nil.
func (u *upgradeListener) close() {
	if u == nil {
		return
	}
	u.once.Do(func() {
		u.ln.Close() // unlinks the socket file
		u.wg.Wait()
	})
}

// rawListener is a listening socket and its name, as sent to a new process.
type rawListener struct {
	name string
	ln   net.Listener
}

// sendListeners sends each listening socket and waits for the new process
// to say it serves them. Until it does, this process keeps accepting: no
// connection is refused, whichever process takes it.
func sendListeners(hc *handover.Conn, lns []rawListener) error {
	for _, l := range lns {
		sc, ok := l.ln.(syscall.Conn)
		if !ok {
			return fmt.Errorf("listener %s: %T has no descriptor", l.name, l.ln)
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return fmt.Errorf("listener %s: %w", l.name, err)
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = hc.Send(handover.Message{Kind: handover.Listener, FD: int(fd), Payload: []byte(l.name)})
		}); err != nil {
			return fmt.Errorf("listener %s: %w", l.name, err)
		}
		if serr != nil {
			return serr
		}
	}
	if err := hc.Send(handover.Message{Kind: handover.Listeners, FD: -1}); err != nil {
		return err
	}
	if _, err := hc.Expect(handover.Ready); err != nil {
		return fmt.Errorf("new process not ready: %w", err)
	}
	return nil
}

// handOver moves the IMAP server's connections over hc (Server.Handover,
// which gives the sessions that are not idle until ctx ends) and sends
// the summary.
func handOver(ctx context.Context, hc *handover.Conn, srv *imapserver.Server, log *slog.Logger) {
	start := time.Now()
	var mu sync.Mutex // one message at a time on hc
	var failed error  // once a send failed, the rest fail at once, not after a timeout each
	send := func(fd int, blob []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if failed == nil {
			failed = hc.Send(handover.Message{Kind: handover.Sleeper, FD: fd, Payload: blob})
			return failed
		}
		return fmt.Errorf("not sent: %w", failed)
	}
	r := srv.Handover(ctx, send)
	log.Info("upgrade: handed over", "moved", r.Moved, "not_moved", r.NotMoved, "dur", time.Since(start))
	if err := hc.SendSummary(handover.Summary{Moved: r.Moved, NotMoved: r.NotMoved}); err != nil {
		log.Warn("upgrade: summary", "err", err)
	}
}

// takeoverConn is the new side of a handover.
type takeoverConn struct {
	hc  *handover.Conn
	log *slog.Logger
}

// dialTakeover connects to the server on path and receives its listening
// sockets, by name.
func dialTakeover(path string, log *slog.Logger) (*takeoverConn, map[string]net.Listener, error) {
	hc, err := handover.Dial(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--takeover: no dormouse to take over on %s: %w", path, err)
	}
	lns := make(map[string]net.Listener)
	fail := func(err error) (*takeoverConn, map[string]net.Listener, error) {
		for _, ln := range lns {
			ln.Close()
		}
		hc.Close()
		return nil, nil, fmt.Errorf("--takeover: %w", err)
	}
	for {
		m, err := hc.Receive()
		if err != nil {
			return fail(err)
		}
		if m.Kind == handover.Listeners {
			break
		}
		if m.Kind != handover.Listener {
			if m.FD >= 0 {
				syscall.Close(m.FD)
			}
			return fail(fmt.Errorf("%w: %q before the listeners' end", handover.ErrProtocol, m.Kind))
		}
		name := string(m.Payload)
		switch {
		case name != "imap" && name != "imaps" && name != "lmtp" && name != "metrics":
			syscall.Close(m.FD)
			return fail(fmt.Errorf("%w: listener named %q", handover.ErrProtocol, name))
		case lns[name] != nil:
			syscall.Close(m.FD)
			return fail(fmt.Errorf("%w: two listeners named %q", handover.ErrProtocol, name))
		}
		f := os.NewFile(uintptr(m.FD), name)
		ln, err := net.FileListener(f) // a duplicate
		f.Close()
		if err != nil {
			return fail(fmt.Errorf("listener %s: %w", name, err))
		}
		lns[name] = ln
	}
	return &takeoverConn{hc: hc, log: log}, lns, nil
}

// adopt tells the old process that the listeners are served, then adopts
// every sleeper it sends until its End, and waits for it to hang up (it
// has closed its store by then). The old process's counts go to metrics.
func (t *takeoverConn) adopt(srv *imapserver.Server, metrics *imapserver.Metrics) error {
	defer t.hc.Close()
	if err := t.hc.Send(handover.Message{Kind: handover.Ready, FD: -1}); err != nil {
		return fmt.Errorf("--takeover: %w", err)
	}
	start := time.Now()
	adopted, failed := 0, 0
	for {
		m, err := t.hc.Receive()
		if err != nil {
			return fmt.Errorf("--takeover: after %d connections: %w", adopted, err)
		}
		switch m.Kind {
		case handover.Sleeper:
			if err := srv.Adopt(m.FD, m.Payload); err != nil {
				t.log.Warn("upgrade: adopt", "err", err)
				failed++
				continue
			}
			adopted++
			continue
		case handover.End:
		default:
			if m.FD >= 0 {
				syscall.Close(m.FD)
			}
			return fmt.Errorf("--takeover: %w: %q among the connections", handover.ErrProtocol, m.Kind)
		}
		s, err := handover.ParseSummary(m.Payload)
		if err != nil {
			return fmt.Errorf("--takeover: %w", err)
		}
		metrics.CountUpgrade(adopted, s.NotMoved)
		if failed > 0 {
			metrics.CountUpgrade(0, map[string]int{imapserver.NotMovedError: failed})
		}
		t.log.Info("upgrade: took over", "adopted", adopted, "refused", failed, "not_moved", s.NotMoved, "dur", time.Since(start))
		break
	}
	// The old process hangs up when it exits; until then it may still
	// write to the store (its last sessions), unseen by events here.
	if _, err := t.hc.Receive(); err == nil {
		t.log.Warn("upgrade: message after the end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	srv.CatchUp(ctx)
	return nil
}
