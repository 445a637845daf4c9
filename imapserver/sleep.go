package imapserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/internal/tls13rec"
)

// refuseHibernation counts why an idling session stays active.
func (c *conn) refuseHibernation(err error) {
	var ne errNotExportable
	reason := "error"
	if errors.As(err, &ne) {
		reason = string(ne)
	} else {
		c.log.Warn("hibernate", "err", err)
	}
	c.srv.cfg.Metrics.refused(reason, transportLabel(connTransport(c.nc), c.z != nil))
}

// hibernate puts an idling or quiet session to sleep (a proxied one
// hands off to its proxy instead) (waiting is when a
// quiet one began to wait for its command): a plain socket is detached
// to a bare descriptor, a TLS one keeps its tls.Conn (sleeper), and it is
// handed with the exported state to the server's hibernator; the
// session's mailbox, user handle and buffers are released. The caller is
// the session goroutine, with no reader beside it, and has checked that
// nothing is buffered either way. On success the session goroutine must
// end without touching the connection.
func (c *conn) hibernate(st *hibernate.State, waiting time.Time) error {
	if c.proxied {
		// It sleeps at its proxy (proxyhop.go).
		return c.handOff(st)
	}
	c.mu.Lock()
	s, err := c.detach(st)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.hibernated = true
	c.log.Debug("hibernated", "tag", st.IdleTag, "messages", st.Messages, "tls", s.isTLS(), "tls_conn", s.tc != nil)
	var q *notifyQueue
	if c.notify != nil {
		q = c.notify.q // the sleeper keeps it
	}
	tok, err := c.srv.hib.sleep(s, st, waiting, q)
	// The session's own watch stays until the sleeper's subscription is
	// in place, so a change in between is not lost: it wakes the
	// sleeper at once, as it would have reached an active IDLE.
	changed := c.sel != nil && len(c.sel.notify) > 0
	c.closeSession()
	if err != nil {
		c.log.Debug("hibernate failed", "err", err)
		return nil
	}
	if changed {
		c.srv.hib.changedToken(tok)
	}
	return nil
}

// detach takes the connection's transport from the session (c.mu held);
// a TLS 1.3 connection's record state goes into st (sleeper_tls13.go).
// A TLS connection with input buffered above its socket stays active:
// the poller could not see that input (tlsPending).
func (c *conn) detach(st *hibernate.State) (sleeper, error) {
	switch nc := c.nc.(type) {
	case *tls.Conn:
		return c.detachTLS(nc, st)
	case *tls13rec.Conn:
		return c.detachConn(nc, st)
	}
	fd, err := hibernate.Detach(c.nc)
	if err != nil {
		// Without Unix descriptors Detach fails before closing
		// anything: the IDLE goes on, active. (A failed Close after the
		// dup leaves a broken socket, which the next read reports.)
		return sleeper{}, fmt.Errorf("%w: %w", errNotExportable("detach"), err)
	}
	return sleeper{fd: fd}, nil
}
