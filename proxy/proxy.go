package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/dormouse/dormouse/imapserver"
)

// Authenticator checks a user's password (auth.PasswdFile).
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (string, error)
}

// Config configures a Proxy.
type Config struct {
	// Backends are the backend IMAP addresses (plain TCP) users are
	// hashed over.
	Backends []string
	// Route, when set, names a user's backend (the KV user map); ""
	// for a user it does not know, who goes by Backends' hash.
	Route Router
	// Secret is the [cluster] secret presented to backends in XPROXY
	// and XRESUME.
	Secret string
	Auth   Authenticator
	// TLS is the certificate configuration for STARTTLS and IMAPS; nil
	// offers neither.
	TLS   *tls.Config
	Plain imapserver.PlaintextAuth
	// Limits are the server's limits the proxy applies itself: MaxLine,
	// MaxLiteral, LoginTimeout, IdleTimeout, FailedLoginDelay,
	// TLSHandshakeTimeout, MaxPreAuthPerAddr and the login penalty.
	Limits imapserver.Limits
	// IdleKeepalive is the interval of "* OK Still here" to IDLE
	// sleepers (2 minutes when zero).
	IdleKeepalive time.Duration
	// DialTimeout bounds a backend's connect and its answers to the
	// proxy's own commands (5 s when zero): past it the client is told
	// UNAVAILABLE.
	DialTimeout time.Duration
	// Notices, when set, tells sleepers of changes (notices.go).
	Notices Notices
	// Slept, when set, is told of each client that goes to sleep (the
	// daemon's memory policy, internal/memreturn, as serve's).
	Slept  func(time.Time)
	Logger *slog.Logger
}

// Proxy is a running `dormouse proxy`.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	penalty *imapserver.LoginPenalty
	preAuth *imapserver.PreAuthLimiter
	sleep   *hibernator
	users   *userTable
	metrics *metrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{} // awake client sockets, closed at Close
}

// New returns a proxy for cfg.
func New(cfg Config) (*Proxy, error) {
	if len(cfg.Backends) == 0 && cfg.Route == nil {
		return nil, errors.New("proxy: no backends")
	}
	if cfg.Auth == nil {
		return nil, errors.New("proxy: no Auth")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Limits.MaxLine <= 0 {
		cfg.Limits.MaxLine = 64 << 10
	}
	if cfg.Limits.MaxLiteral <= 0 {
		cfg.Limits.MaxLiteral = 64 << 20
	}
	if cfg.Limits.LoginTimeout <= 0 {
		cfg.Limits.LoginTimeout = time.Minute
	}
	if cfg.Limits.TLSHandshakeTimeout <= 0 {
		cfg.Limits.TLSHandshakeTimeout = 15 * time.Second
	}
	if cfg.IdleKeepalive <= 0 {
		cfg.IdleKeepalive = 2 * time.Minute
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		cfg:       cfg,
		log:       cfg.Logger,
		penalty:   imapserver.NewLoginPenalty(cfg.Limits),
		preAuth:   imapserver.NewPreAuthLimiter(cfg.Limits.MaxPreAuthPerAddr),
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
	p.users = newUserTable(p)
	if cfg.Notices != nil {
		cfg.Notices.HandleNotices(p.onNotice)
	}
	p.metrics = newMetrics(p)
	h, err := newHibernator(p)
	if err != nil {
		cancel()
		return nil, err
	}
	p.sleep = h
	return p, nil
}

// Serve accepts clients on ln until Close: IMAP with STARTTLS, or IMAPS
// when implicitTLS.
func (p *Proxy) Serve(ln net.Listener, implicitTLS bool) error {
	if implicitTLS && p.cfg.TLS == nil {
		return errors.New("proxy: IMAPS without a TLS configuration")
	}
	p.mu.Lock()
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		return net.ErrClosed
	}
	p.listeners[ln] = struct{}{}
	p.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if p.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("proxy: accept: %w", err)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			newClient(p, nc).serve(implicitTLS)
		}()
	}
}

// track adds or removes an awake client socket from those Close ends.
func (p *Proxy) track(nc net.Conn, on bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		if p.ctx.Err() != nil {
			return false
		}
		p.conns[nc] = struct{}{}
	} else {
		delete(p.conns, nc)
	}
	return true
}

// Close stops the listeners, ends every client (awake ones' sockets are
// closed, sleepers get "* BYE") and waits for their goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.cancel()
	for ln := range p.listeners {
		ln.Close()
	}
	for nc := range p.conns {
		nc.Close()
	}
	p.mu.Unlock()
	p.sleep.close()
	p.wg.Wait()

	return nil
}

// backend names the backend of user: Route's answer, or the rendezvous
// hash when Route has none for the user. An error of Route is the
// client's UNAVAILABLE: a moved user must not land on the backend the
// hash names.
func (p *Proxy) backend(ctx context.Context, user string) (string, error) {
	if p.cfg.Route != nil {
		addr, err := p.cfg.Route(ctx, user)
		if err != nil || addr != "" {
			p.metrics.routes.WithLabelValues("kv").Inc()
			return addr, err
		}
	}
	if len(p.cfg.Backends) == 0 {
		return "", errors.New("no backend for the user")
	}
	p.metrics.routes.WithLabelValues("hash").Inc()
	return rendezvous(p.cfg.Backends, user), nil
}

// Sleepers returns the number of clients asleep at the proxy.
func (p *Proxy) Sleepers() int { return p.sleep.len() }
