package imapserver

import (
	"errors"
	"strings"
	"time"

	"github.com/dormouse/dormouse/imapwire"
)

// handleIdle serves RFC 2177 IDLE (RFC 9051 6.3.13). Changes to the
// selected mailbox are pushed as soon as the store reports them: there is
// no batching delay. The idle timeout does not apply while idling; a
// keepalive (lineStillHere) keeps NAT mappings alive.
//
// With Config.HibernateAfter, an idling session may hibernate here (see
// sleep.go); a session restored from hibernation re-enters here with
// c.resumed set, to replay and go on reading the client's DONE.
func handleIdle(c *conn, cmd *imapwire.Command) error {
	if !c.resumed {
		c.w.Raw(lineIdling)
	}
	// A session restored from hibernation replays here what changed
	// while it slept (restoreState left a pending change); otherwise
	// changes that came before IDLE are sent now (RFC 2177 3).
	resumed := c.resumed
	c.resumed = false
	if err := c.sendUpdates(true); err != nil {
		return err
	}
	if !resumed {
		c.existsAgain() // reannounce.go
	}
	c.sendNotify()
	if err := c.flush(); err != nil {
		return &byeError{text: "write failed", err: err}
	}
	m := c.srv.cfg.Metrics
	// The states are exclusive: an idling connection is not counted
	// as active.
	m.connState("active", -1)
	m.connState("idling", 1)
	defer func() {
		m.connState("idling", -1)
		m.connState("active", 1)
	}()

	var notify chan struct{}
	if c.sel != nil {
		notify = c.sel.notify
	}
	keepaliveAt := time.Now().Add(c.srv.cfg.IdleKeepalive)
	if c.br.Buffered() == 0 {
		ended, err := c.idleWaiting(cmd.Tag, notify, &keepaliveAt)
		if ended {
			return err
		}
	}
	return c.idleReading(cmd.Tag, notify, keepaliveAt)
}

// idleWaiting waits on the session's own goroutine for the client's first
// byte, pushing changes and keepalives meanwhile, and hibernates the
// session after HibernateAfter. A second goroutine reading for it would
// cost every idle connection another stack (and the runtime keeps exited
// goroutines' stacks for reuse). It reports ended with the command's
// result when the session hibernated or failed; otherwise the client has
// begun a line, and the caller reads it with idleReading.
func (c *conn) idleWaiting(tag string, notify chan struct{}, keepaliveAt *time.Time) (ended bool, err error) {
	after := c.srv.cfg.HibernateAfter
	var hibernateAt time.Time // zero: never
	if c.srv.hib != nil {
		hibernateAt = time.Now().Add(after)
	}
	for {
		c.mu.Lock()
		if c.srv.closing.Load() {
			c.mu.Unlock()
			return true, &byeError{text: "Server shutting down", err: errShutdown}
		}
		// During a handover (Server.Handover) the session hibernates
		// now, to move; checked under c.mu, as Handover's interrupt
		// (interruptIfWaiting) is sent, so that one of the two sees the
		// other.
		if !hibernateAt.IsZero() && c.srv.handing.Load() {
			hibernateAt = time.Unix(1, 0)
		}
		deadline := *keepaliveAt
		if !hibernateAt.IsZero() && hibernateAt.Before(deadline) {
			deadline = hibernateAt
		}
		c.nc.SetReadDeadline(deadline)
		c.idlePeek = true
		c.mu.Unlock()
		// A change signalled before idlePeek was set interrupted nothing:
		// its token is checked here instead.
		var err error
		if len(notify) == 0 && !c.notifyDue() {
			_, err = c.br.Peek(1)
		}
		c.mu.Lock()
		c.idlePeek = false
		c.nc.SetReadDeadline(time.Time{})
		c.mu.Unlock()

		var ne interface{ Timeout() bool }
		switch {
		case c.br.Buffered() > 0:
			return false, nil // the client speaks
		case err != nil && (!errors.As(err, &ne) || !ne.Timeout()):
			return true, &byeError{text: "Connection error", err: err}
		case c.srv.closing.Load():
			return true, &byeError{text: "Server shutting down", err: errShutdown}
		}
		// A deadline passed or a change interrupted the wait.
		if len(notify) > 0 {
			<-notify
			if err := c.refresh(); err != nil {
				return true, err
			}
		}
		c.sendNotify()
		now := time.Now()
		if !now.Before(*keepaliveAt) {
			c.w.Raw(lineStillHere)
			*keepaliveAt = now.Add(c.srv.cfg.IdleKeepalive)
		}
		if err := c.flush(); err != nil {
			return true, &byeError{text: "write failed", err: err}
		}
		if hibernateAt.IsZero() || now.Before(hibernateAt) {
			continue
		}
		st, err := c.exportState(tag)
		if err != nil {
			c.refuseHibernation(err)
			hibernateAt = time.Time{} // no further try this IDLE
			continue
		}
		if len(notify) > 0 || c.notifyDue() {
			// A change came meanwhile: report it, and try again one
			// interval later.
			hibernateAt = now.Add(after)
			continue
		}
		if err := c.hibernate(st, time.Time{}); err != nil {
			c.refuseHibernation(err)
			hibernateAt = time.Time{}
			continue
		}
		return true, errHibernated
	}
}

// idleReading serves an IDLE until DONE: the client's line is read on a
// goroutine of its own, so that this one can push changes and keepalives
// meanwhile; only the reader touches the Decoder until it returns.
func (c *conn) idleReading(tag string, notify chan struct{}, keepaliveAt time.Time) error {
	c.mu.Lock()
	c.nc.SetReadDeadline(time.Time{})
	c.mu.Unlock()
	type readResult struct {
		line []byte
		err  error
	}
	lines := make(chan readResult, 1)
	go func() {
		line, err := c.dec.ReadLine()
		lines <- readResult{line: line, err: err}
	}()
	// stopReader ends the reader goroutine before this one returns.
	stopReader := func() {
		c.mu.Lock()
		c.nc.SetReadDeadline(time.Unix(1, 0))
		c.mu.Unlock()
		<-lines
	}
	keepalive := time.NewTimer(time.Until(keepaliveAt))
	defer keepalive.Stop()
	for {
		select {
		case r := <-lines:
			if r.err != nil {
				var ne interface{ Timeout() bool }
				if errors.As(r.err, &ne) && ne.Timeout() {
					return &byeError{text: "Autologout", err: r.err}
				}
				return &byeError{text: "Connection error", err: r.err}
			}
			if !strings.EqualFold(string(r.line), "DONE") {
				return errBAD("", "Expected DONE")
			}
			c.w.RawBytes(appendIdleDone(nil, tag))
			return errTaggedDone
		case <-notify:
			if err := c.refresh(); err != nil {
				stopReader()
				return err
			}
			c.sendNotify()
			if err := c.flush(); err != nil {
				stopReader()
				return &byeError{text: "write failed", err: err}
			}
		case <-c.notifySig():
			c.sendNotify()
			if err := c.flush(); err != nil {
				stopReader()
				return &byeError{text: "write failed", err: err}
			}
		case <-keepalive.C:
			keepalive.Reset(c.srv.cfg.IdleKeepalive)
			c.w.Raw(lineStillHere)
			if err := c.flush(); err != nil {
				stopReader()
				return &byeError{text: "write failed", err: err}
			}
		case <-c.srv.done:
			stopReader()
			return &byeError{text: "Server shutting down", err: errShutdown}
		}
	}
}
