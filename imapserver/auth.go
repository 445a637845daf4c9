package imapserver

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/internal/tls13rec"
)

// handleStartTLS serves RFC 9051 6.2.1 STARTTLS.
func handleStartTLS(c *conn, cmd *imapwire.Command) error {
	if c.srv.cfg.TLS == nil || c.tls {
		return errBAD("", "STARTTLS not available")
	}
	if c.z != nil {
		// After UNAUTHENTICATE on a compressed connection: TLS under
		// the compression layer is not what RFC 4978 allows.
		return errBAD("", "STARTTLS not available after COMPRESS")
	}
	c.w.Raw(cmd.Tag).Raw(" OK Begin TLS negotiation now").CRLF()
	if err := c.flush(); err != nil {
		return &byeError{text: "write failed", err: err}
	}
	// RFC 9051 6.2.1 / RFC 2595 3.1: bytes the client pipelined after
	// STARTTLS were sent in the clear and must be ignored (CVE-2011-0411).
	if n := c.br.Buffered(); n > 0 {
		c.br.Discard(n)
	}
	tc, _ := tls13rec.Server(c.nc, c.srv.cfg.TLS)
	if err := c.tlsHandshake(tc); err != nil {
		return &byeError{text: "TLS negotiation failed", err: fmt.Errorf("starttls: %w", err)}
	}
	c.tls = true
	c.setTransport(tc)
	return errTaggedDone
}

// errTaggedDone says the handler already wrote its tagged response.
var errTaggedDone = errors.New("tagged response written")

// handleLogin serves RFC 9051 6.2.3 LOGIN.
func handleLogin(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.LoginArgs)
	if a == nil {
		return errBAD("", "Missing arguments")
	}
	return c.login(a.Username, a.Password)
}

// login checks credentials and opens the user's mail.
func (c *conn) login(username, password string) error {
	if !c.plaintextAllowed() {
		return errNO("PRIVACYREQUIRED", "Plaintext authentication is disabled; use TLS")
	}
	// The failed-login penalty is keyed by the name as users are
	// compared, so ALICE and alice are one key.
	key := auth.CanonicalName(username)
	if err := c.loginPenaltyWait(key); err != nil {
		return err
	}
	name, err := c.srv.cfg.Auth.Authenticate(c.ctx, username, password)
	if err != nil {
		c.srv.cfg.Metrics.login(false)
		if !errors.Is(err, ErrBadCredentials) {
			c.log.Error("authenticate", "user", username, "err", err)
			return &respError{code: "UNAVAILABLE", text: "Authentication unavailable", err: err}
		}
		c.log.Info("login failed", "user", username)
		c.loginFailed(key)
		return errNO("AUTHENTICATIONFAILED", "Invalid credentials")
	}
	c.srv.penalty.succeeded(c.addrKey, key)
	if err := c.countUser(name, false); err != nil {
		c.srv.cfg.Metrics.login(false)
		return err
	}
	u, err := c.srv.cfg.Store.User(c.ctx, name)
	if err != nil {
		c.uncountUser()
		c.srv.cfg.Metrics.login(false)
		return &respError{code: "UNAVAILABLE", text: "Mail store unavailable", err: fmt.Errorf("open user %s: %w", name, err)}
	}
	c.srv.cfg.Metrics.login(true)
	c.user, c.username, c.state = u, name, stateAuth
	c.admin.setUser(name)
	c.leavePreAuth()
	c.logBase = c.logBase.With("user", name)
	c.log = c.logBase
	c.log.Info("logged in")
	// RFC 9051 7.1: the capabilities may change on login; say them.
	c.okCode = "CAPABILITY " + c.capabilities()
	c.okText = "Logged in"
	return nil
}

// loginFailed counts a failed login under key (a user name, or the
// proxy hop's) at the connection's address for the penalty, and pauses:
// a pause slows guessing down on this connection.
func (c *conn) loginFailed(key string) {
	c.srv.penalty.failed(c.addrKey, key)
	if d := c.srv.limits.FailedLoginDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
		}
	}
}

// handleAuthenticate serves RFC 9051 6.2.2 AUTHENTICATE with the PLAIN
// mechanism (RFC 4616), with or without an initial response (RFC 4959).
func handleAuthenticate(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.AuthenticateArgs)
	if a == nil {
		return errBAD("", "Missing mechanism")
	}
	if a.Mechanism != "PLAIN" {
		return errNO("CANNOT", "Unsupported authentication mechanism")
	}
	if !c.plaintextAllowed() {
		return errNO("PRIVACYREQUIRED", "Plaintext authentication is disabled; use TLS")
	}
	resp := a.InitialResponse
	if resp == nil {
		c.w.Raw("+ ").CRLF()
		if err := c.flush(); err != nil {
			return &byeError{text: "write failed", err: err}
		}
		line, err := c.dec.ReadLine()
		if err != nil {
			return &byeError{text: "read failed", err: err}
		}
		if string(line) == "*" {
			return errBAD("", "Authentication cancelled")
		}
		resp = make([]byte, base64.StdEncoding.DecodedLen(len(line)))
		n, err := base64.StdEncoding.Decode(resp, line)
		if err != nil {
			return errBAD("", "Invalid base64")
		}
		resp = resp[:n]
	}
	// message = [authzid] NUL authcid NUL passwd
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return errBAD("", "Invalid PLAIN response")
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		return errNO("AUTHORIZATIONFAILED", "Cannot act as another user")
	}
	return c.login(user, pass)
}
