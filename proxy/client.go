package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/internal/tls13rec"
)

// preAuthCaps is what the proxy offers before login; after it the client
// is told the backend's list.
const preAuthCaps = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID IDLE"

// client is one client connection while it is awake.
type client struct {
	p   *Proxy
	raw net.Conn // the TCP socket
	// tc is the TLS connection over rec after STARTTLS or on IMAPS; rc
	// the record layer a TLS 1.3 sleeper woke on. top is what the
	// session reads and writes: raw, tc or rc.
	tc  *tls.Conn
	rec *tls13rec.Recorder
	rc  *tls13rec.Conn
	top net.Conn
	// z is the compression layer after COMPRESS DEFLATE.
	z *deflateLayer

	in  lineReader
	w   *bufio.Writer
	log *slog.Logger

	addrKey string
	preAuth bool      // holds one of its address's unauthenticated slots
	loginBy time.Time // the login timeout's deadline
	user    string
	backend string
	// noticeSeq is the user's notice count when the current hop was
	// opened: a notice after it may not be in the blob it hands over.
	noticeSeq uint64
}

func newClient(p *Proxy, nc net.Conn) *client {
	c := &client{p: p, raw: nc, top: nc, addrKey: imapserver.AddrKey(nc.RemoteAddr())}
	c.log = p.log.With("remote", nc.RemoteAddr().String())
	c.setStreams(nc, nc)
	return c
}

// setStreams puts a new reader and writer over the connection's top
// layer.
func (c *client) setStreams(r io.Reader, w io.Writer) {
	c.in = lineReader{r: bufio.NewReaderSize(r, 4096), max: c.p.cfg.Limits.MaxLine}
	c.w = bufio.NewWriterSize(w, 4096)
}

// say writes a line and flushes.
func (c *client) say(line string) error {
	c.w.WriteString(line)
	c.w.WriteString("\r\n")
	return c.w.Flush()
}

// tlsOn reports whether the client's connection is encrypted.
func (c *client) tlsOn() bool { return c.tc != nil || c.rc != nil }

// plaintextAllowed says whether LOGIN may be used now (imapserver's
// rule).
func (c *client) plaintextAllowed() bool {
	if c.tlsOn() {
		return true
	}
	switch c.p.cfg.Plain {
	case imapserver.PlaintextAlways:
		return true
	case imapserver.PlaintextLoopback:
		return imapserver.IsLoopback(c.raw.RemoteAddr())
	}
	return false
}

func (c *client) capabilities() string {
	s := preAuthCaps
	if c.p.cfg.TLS != nil && !c.tlsOn() {
		s += " STARTTLS"
	}
	if c.plaintextAllowed() {
		return s + " AUTH=PLAIN"
	}
	return s + " LOGINDISABLED"
}

// serve runs a new client: greeting, commands until login, then the
// relay and its sleeps.
func (c *client) serve(implicitTLS bool) {
	if !c.p.track(c.raw, true) {
		c.raw.Close()
		return
	}
	defer func() { c.p.track(c.raw, false) }()
	if !c.p.preAuth.Acquire(c.addrKey) {
		if !implicitTLS {
			c.say("* BYE [UNAVAILABLE] Too many connections from your address")
		}
		c.raw.Close()
		return
	}
	c.preAuth = true
	defer c.leavePreAuth()
	if implicitTLS {
		if err := c.startTLS(); err != nil {
			c.log.Debug("tls handshake", "err", err)
			c.raw.Close()
			return
		}
	}
	c.loginBy = time.Now().Add(c.p.cfg.Limits.LoginTimeout)
	c.raw.SetDeadline(c.loginBy)
	if err := c.say("* OK [CAPABILITY " + c.capabilities() + "] Dormouse proxy ready"); err != nil {
		c.raw.Close()
		return
	}
	h, err := c.preAuthLoop()
	if err != nil || h == nil {
		if err != nil && !errors.Is(err, io.EOF) {
			c.log.Debug("client ended before login", "err", err)
		}
		c.closeTop()
		return
	}
	c.raw.SetDeadline(time.Time{})
	c.leavePreAuth()
	c.relay(h, nil)
}

func (c *client) leavePreAuth() {
	if c.preAuth {
		c.preAuth = false
		c.p.preAuth.Release(c.addrKey)
	}
}

// closeTop closes the connection (a TLS one with close_notify).
func (c *client) closeTop() {
	if c.top != nil {
		c.top.Close()
	}
	c.raw.Close()
}

// startTLS runs the TLS handshake over the socket (IMAPS, or after
// STARTTLS's OK), on a tls13rec.Recorder so that a TLS 1.3 connection
// can sleep on its record state.
func (c *client) startTLS() error {
	tc, rec := tls13rec.Server(c.raw, c.p.cfg.TLS)
	c.raw.SetDeadline(time.Now().Add(c.p.cfg.Limits.TLSHandshakeTimeout))
	if err := tc.HandshakeContext(c.p.ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	c.raw.SetDeadline(c.loginBy) // zero on IMAPS: set after the greeting
	c.tc, c.rec, c.top = tc, rec, tc
	c.setStreams(tc, tc)
	return nil
}

// textError is an error whose text is said to the client as it is.
type textError string

func (e textError) Error() string { return string(e) }

// logInFirst refuses, before its arguments, a command the proxy does not
// answer before login.
const logInFirst = textError("Log in first")

// preAuthCommands are the commands the proxy answers before login.
var preAuthCommands = map[string]bool{
	"CAPABILITY": true, "NOOP": true, "LOGOUT": true, "STARTTLS": true,
	"LOGIN": true, "AUTHENTICATE": true,
}

// preAuthLoop answers commands until a login opens a hop, which it
// returns; nil and no error after LOGOUT.
func (c *client) preAuthLoop() (*hop, error) {
	lim := c.p.cfg.Limits
	opts := imapwire.DecoderOptions{
		MaxLine:    lim.MaxLine,
		MaxLiteral: int64(lim.MaxLine),
		Continue: func(int64) error {
			return c.say("+ Ready for literal data")
		},
		Allow: func(name string) error {
			if !preAuthCommands[name] {
				return logInFirst
			}
			return nil
		},
	}
	var dec *imapwire.Decoder
	var r *bufio.Reader
	for {
		if r != c.in.r { // a new one after STARTTLS
			r = c.in.r
			dec = imapwire.NewDecoder(r, opts)
		}
		cmd, err := dec.ReadCommand()
		if err != nil {
			var ce *imapwire.CommandError
			if !errors.As(err, &ce) {
				return nil, err
			}
			tag := ce.Tag
			if tag == "" {
				tag = "*"
			}
			kind := "BAD"
			if ce.NO {
				kind = "NO"
			}
			code := ""
			if ce.Code != "" {
				code = "[" + ce.Code + "] "
			}
			if err := c.say(tag + " " + kind + " " + code + ce.Msg); err != nil || ce.Fatal {
				return nil, errors.Join(err, ce)
			}
			continue
		}
		h, done, err := c.preAuthCommand(cmd)
		if err != nil || done || h != nil {
			return h, err
		}
	}
}

// preAuthCommand answers one command; done after LOGOUT.
func (c *client) preAuthCommand(cmd *imapwire.Command) (h *hop, done bool, err error) {
	switch cmd.Name {
	case "CAPABILITY":
		c.w.WriteString("* CAPABILITY " + c.capabilities() + "\r\n")
		return nil, false, c.say(cmd.Tag + " OK CAPABILITY completed")
	case "NOOP":
		return nil, false, c.say(cmd.Tag + " OK NOOP completed")
	case "LOGOUT":
		c.w.WriteString("* BYE Logging out\r\n")
		return nil, true, c.say(cmd.Tag + " OK LOGOUT completed")
	case "STARTTLS":
		if c.p.cfg.TLS == nil || c.tlsOn() {
			return nil, false, c.say(cmd.Tag + " BAD STARTTLS not available")
		}
		if err := c.say(cmd.Tag + " OK Begin TLS negotiation now"); err != nil {
			return nil, false, err
		}
		// Bytes pipelined after STARTTLS came in the clear: ignored
		// (RFC 2595 3.1, CVE-2011-0411), as startTLS's new reader does.
		return nil, false, c.startTLS()
	case "LOGIN":
		a, _ := cmd.Args.(*imapwire.LoginArgs)
		if a == nil {
			return nil, false, c.say(cmd.Tag + " BAD Missing arguments")
		}
		return c.login(cmd.Tag, a.Username, a.Password)
	case "AUTHENTICATE":
		return c.authenticate(cmd)
	}
	return nil, false, c.say(cmd.Tag + " BAD Log in first")
}

// authenticate serves AUTHENTICATE PLAIN (RFC 4616), with or without an
// initial response.
func (c *client) authenticate(cmd *imapwire.Command) (*hop, bool, error) {
	a, _ := cmd.Args.(*imapwire.AuthenticateArgs)
	if a == nil {
		return nil, false, c.say(cmd.Tag + " BAD Missing mechanism")
	}
	if a.Mechanism != "PLAIN" {
		return nil, false, c.say(cmd.Tag + " NO [CANNOT] Unsupported authentication mechanism")
	}
	if !c.plaintextAllowed() {
		return nil, false, c.say(cmd.Tag + " NO [PRIVACYREQUIRED] Plaintext authentication is disabled; use TLS")
	}
	resp := a.InitialResponse
	if resp == nil {
		if err := c.say("+ "); err != nil {
			return nil, false, err
		}
		line, err := c.in.readLine()
		if err != nil {
			return nil, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if string(line) == "*" {
			return nil, false, c.say(cmd.Tag + " BAD Authentication cancelled")
		}
		if resp, err = imapwire.DecodeSASL(line); err != nil {
			return nil, false, c.say(cmd.Tag + " BAD Invalid base64")
		}
	}
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return nil, false, c.say(cmd.Tag + " BAD Invalid PLAIN response")
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		return nil, false, c.say(cmd.Tag + " NO [AUTHORIZATIONFAILED] Cannot act as another user")
	}
	return c.login(cmd.Tag, user, pass)
}

// login checks the password with the server's penalty rules, then opens
// the user's hop and answers with the backend's capabilities.
func (c *client) login(tag, username, password string) (*hop, bool, error) {
	if !c.plaintextAllowed() {
		return nil, false, c.say(tag + " NO [PRIVACYREQUIRED] Plaintext authentication is disabled; use TLS")
	}
	key := auth.CanonicalName(username)
	if d := c.p.penalty.Delay(c.addrKey, key); d > 0 {
		if err := c.wait(d); err != nil {
			return nil, false, err
		}
	}
	name, err := c.p.cfg.Auth.Authenticate(c.p.ctx, username, password)
	if err != nil {
		if !errors.Is(err, auth.ErrBadCredentials) {
			c.log.Error("authenticate", "user", username, "err", err)
			return nil, false, c.say(tag + " NO [UNAVAILABLE] Authentication unavailable")
		}
		c.log.Info("login failed", "user", username)
		c.p.metrics.logins.WithLabelValues("failed").Inc()
		c.p.penalty.Failed(c.addrKey, key)
		if err := c.wait(c.p.cfg.Limits.FailedLoginDelay); err != nil {
			return nil, false, err
		}
		return nil, false, c.say(tag + " NO [AUTHENTICATIONFAILED] Invalid credentials")
	}
	c.p.penalty.Succeeded(c.addrKey, key)
	c.user = name
	c.log = c.log.With("user", name)
	// Notices first, so that no change after the backend's export can
	// fall before the subscription (the contract's rule).
	c.p.users.hold(name)
	h, caps, err := c.openHop("xproxy", func(h *hop) (string, error) {
		return h.xproxy(c.p.cfg.Secret, name, c.raw.RemoteAddr().String(), c.p.cfg.DialTimeout)
	})
	if err != nil {
		c.p.users.release(name)
		c.log.Warn("backend for login", "backend", c.backend, "err", err)
		c.user = ""
		c.p.metrics.logins.WithLabelValues("unavailable").Inc()
		return nil, false, c.say(tag + " NO [UNAVAILABLE] Backend unavailable, try again later")
	}
	c.log.Info("logged in", "backend", c.backend)
	c.p.metrics.logins.WithLabelValues("ok").Inc()
	return h, false, c.say(tag + " OK [CAPABILITY " + caps + "] Logged in")
}

// wait waits d, or until the proxy closes.
func (c *client) wait(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.p.ctx.Done():
		return context.Canceled
	}
}

// openHop routes the user, dials its backend and runs open (command,
// XPROXY or XRESUME) on the new hop.
func (c *client) openHop(command string, open func(*hop) (string, error)) (*hop, string, error) {
	addr, err := c.p.backend(c.p.ctx, c.user)
	if err != nil {
		return nil, "", fmt.Errorf("%w: route %s: %w", errUnavailable, c.user, err)
	}
	c.backend = addr
	c.noticeSeq = c.p.users.seq(c.user)
	h, err := dialHop(c.p.ctx, addr, c.p.cfg.DialTimeout)
	if err != nil {
		c.p.metrics.unavailable.Inc()
		return nil, "", err
	}
	c.p.metrics.hops.WithLabelValues(addr, command).Inc()
	s, err := open(h)
	if err != nil {
		h.nc.Close()
		return nil, "", err
	}
	return h, s, nil
}
