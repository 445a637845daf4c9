package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// tlsHandshake runs the server side of a TLS handshake (implicit TLS or
// STARTTLS) within TLSHandshakeTimeout and the login deadline, whichever
// is first: a client that connects and never sends its ClientHello holds
// a descriptor and a goroutine only that long.
func (c *conn) tlsHandshake(tc *tls.Conn) error {
	deadline := time.Now().Add(c.srv.limits.TLSHandshakeTimeout)
	if !c.loginDeadline.IsZero() && c.loginDeadline.Before(deadline) {
		deadline = c.loginDeadline
	}
	ctx, cancel := context.WithDeadline(c.ctx, deadline)
	defer cancel()
	return tc.HandshakeContext(ctx)
}

// waitDeadline is when a connection waiting for its next command is logged
// out: an unauthenticated one LoginTimeout after it connected, however
// many commands it sends meanwhile; an authenticated one IdleTimeout after
// its last command.
func (c *conn) waitDeadline(now time.Time) time.Time {
	if c.state == stateNotAuth && !c.loginDeadline.IsZero() {
		return c.loginDeadline
	}
	return now.Add(c.srv.limits.IdleTimeout)
}

// commandDeadline is when a command whose first byte arrived now must have
// been read whole, literals included: a client that trickles a line or a
// literal a byte at a time (slowloris) is cut off then.
func (c *conn) commandDeadline(now time.Time) time.Time {
	d := now.Add(c.srv.limits.CommandTimeout)
	if c.state == stateNotAuth && !c.loginDeadline.IsZero() && c.loginDeadline.Before(d) {
		return c.loginDeadline
	}
	return d
}

// commandReadFailed ends the connection after a command could not be read
// whole, naming a timeout as such.
func (c *conn) commandReadFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !c.srv.closing.Load() {
		c.log.Info("command read timed out", "remote", c.addrKey)
		c.bye("Command not completed in time")
		return
	}
	c.readFailed(err)
}
