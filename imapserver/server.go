package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dormouse/dormouse/internal/tls13rec"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("imapserver: server closed")

// Server serves IMAP over any number of listeners.
type Server struct {
	cfg    Config
	limits Limits
	log    *slog.Logger

	nextConn atomic.Uint64
	closing  atomic.Bool
	done     chan struct{} // closed when Shutdown starts
	// handing is set when Handover starts: idling sessions hibernate at
	// once, and their sleepers go to the new process.
	handing atomic.Bool
	// connGone is signalled (without blocking) when a connection ends,
	// for Handover to count what is left.
	connGone chan struct{}

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	connsWG   sync.WaitGroup

	bufs sync.Pool // *[]byte copy buffers for FETCH literals

	hib *hibernator // nil when Config.HibernateAfter is 0
	// handoffWatches keeps handed-off sessions' mailboxes watched
	// (proxyhop_watch.go); nil without a ProxySecret.
	handoffWatches *handoffWatches

	// searchBuild indexes selected mailboxes for SEARCH BODY and TEXT
	// in the background (searchbuild.go); nil with Config.NoSearchIndex.
	searchBuild *searchBuilder

	preAuth *preAuthLimiter // unauthenticated connections per address
	penalty *loginPenalty   // failed logins per address and user+address
	// userConns counts logged-in connections per user and user+address.
	userConns *userConnLimiter

	// stepHook, set only by tests, runs at each step of a long command
	// (conn.interrupted) on the connection's goroutine.
	stepHook atomic.Pointer[func(nc net.Conn)]
}

// copyBufSize is the chunk in which message bytes are streamed.
const copyBufSize = 32 << 10

func (s *Server) getBuf() []byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, copyBufSize)
}

func (s *Server) putBuf(b []byte) { s.bufs.Put(&b) }

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("imapserver: Config.Store is nil")
	}
	if cfg.Auth == nil {
		return nil, errors.New("imapserver: Config.Auth is nil")
	}
	if _, ok := cfg.Auth.(userLookup); cfg.ProxySecret != "" && !ok {
		return nil, errors.New("imapserver: Config.ProxySecret needs an Auth that can look users up (LookupUser)")
	}
	if cfg.IdleKeepalive <= 0 {
		cfg.IdleKeepalive = DefaultIdleKeepalive
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:       cfg,
		limits:    cfg.Limits.withDefaults(),
		log:       log,
		done:      make(chan struct{}),
		connGone:  make(chan struct{}, 1),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
	s.preAuth = newPreAuthLimiter(s.limits.MaxPreAuthPerAddr)
	s.penalty = newLoginPenalty(s.limits)
	s.userConns = newUserConnLimiter(s.limits)
	if !cfg.NoSearchIndex {
		s.searchBuild = newSearchBuilder(cfg.Store, log, cfg.JobDone)
	}
	if cfg.ProxySecret != "" {
		lease := cfg.HandoffWatchLease
		if lease <= 0 {
			lease = s.limits.IdleTimeout
		}
		s.handoffWatches = newHandoffWatches(cfg.Store, lease, cfg.HandoffWatchMax, cfg.Metrics)
	}
	if cfg.HibernateAfter > 0 {
		h, err := newHibernator(s)
		if err != nil {
			return nil, err
		}
		s.hib = h
	}
	return s, nil
}

// Serve accepts connections on l and serves each on its own goroutine until
// Shutdown, when it returns ErrServerClosed. Connections that l yields as
// *tls.Conn are implicit TLS (RFC 8314); others are plain and are offered
// STARTTLS when Config.TLS is set.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() || s.handing.Load() {
				return ErrServerClosed
			}
			if retryableAccept(err) {
				// Out of descriptors or memory, or a connection reset
				// before it was accepted: back off as net/http does
				// instead of spinning, and go on serving.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("imapserver: accept: %w", err)
		}
		backoff = 0
		c := s.newConn(nc)
		if c == nil {
			nc.Close()
			return ErrServerClosed
		}
		go c.serve()
	}
}

// retryableAccept reports whether an Accept error passes: the process or
// the system ran out of descriptors (a server near its open-files limit
// must not stop listening), memory or buffers, a connection was aborted
// before it was accepted, or a timeout.
func retryableAccept(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ServeConn serves one already accepted connection and returns when it is
// closed. It takes ownership of nc.
func (s *Server) ServeConn(nc net.Conn) error {
	c := s.newConn(nc)
	if c == nil {
		nc.Close()
		return ErrServerClosed
	}
	c.serve()
	return nil
}

// newConn registers a connection just accepted; nil after Shutdown
// started.
func (s *Server) newConn(nc net.Conn) *conn { return s.addConn(nc, true) }

// wokenConn registers a connection woken from hibernation, like newConn
// but not counted as accepted; nil after Shutdown started.
func (s *Server) wokenConn(nc net.Conn) *conn { return s.addConn(nc, false) }

// addConn registers a connection, counted as accepted when accepted; nil
// after Shutdown started.
func (s *Server) addConn(nc net.Conn, accepted bool) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.connsWG.Add(1)
	if accepted {
		s.cfg.Metrics.accept()
	}
	return c
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connsWG.Done()
	select {
	case s.connGone <- struct{}{}:
	default:
	}
}

// stopAccepting runs mark (which says why: shutdown or handover) and closes
// the listeners under s.mu, so that no connection is added after mark, then
// wakes every connection waiting for a command or in IDLE to see it; busy
// ones see it when their command is done.
func (s *Server) stopAccepting(mark func()) error {
	s.mu.Lock()
	mark()
	var err error
	for l := range s.listeners {
		if cerr := l.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("imapserver: close listener: %w", cerr)
		}
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.interruptIfWaiting()
	}
	return err
}

// Shutdown stops accepting connections, lets commands in flight finish,
// sends "* BYE" to every client and closes its connection. When ctx ends
// first, the remaining connections are closed at once and ctx's error is
// returned.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.stopAccepting(func() {
		if !s.closing.Swap(true) {
			close(s.done)
		}
	})
	if s.hib != nil {
		s.hib.shutdown()
	}
	if s.searchBuild != nil {
		s.searchBuild.stop()
	}
	s.handoffWatches.close()
	finished := make(chan struct{})
	go func() {
		s.connsWG.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return err
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.forceClose()
		}
		s.mu.Unlock()
		// Closed sockets and cancelled contexts end commands at their
		// next step (conn.interrupted); a step that does not end within
		// forceCloseGrace is abandoned, so that Shutdown keeps its bound.
		t := time.NewTimer(forceCloseGrace)
		defer t.Stop()
		select {
		case <-finished:
		case <-t.C:
			s.mu.Lock()
			n := len(s.conns)
			s.mu.Unlock()
			s.log.Error("shutdown: connections still running after being closed", "conns", n, "dur", forceCloseGrace)
		}
		return ctx.Err()
	}
}

// forceCloseGrace is how long Shutdown waits, once its context has ended,
// for the connections it closed to finish their goroutines.
const forceCloseGrace = 2 * time.Second

// isLoopback reports whether addr is a loopback address.
func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isTLS reports whether nc is a TLS connection: a tls.Conn, or a TLS 1.3
// connection woken on its record state.
func isTLS(nc net.Conn) bool {
	switch nc.(type) {
	case *tls.Conn, *tls13rec.Conn:
		return true
	}
	return false
}
