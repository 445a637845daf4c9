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
// keepalive "* OK Still here" keeps NAT mappings alive.
//
// With Config.HibernateAfter, an idling session may hibernate here (see
// sleep.go); a session restored from hibernation re-enters here with
// c.resumed set, to replay and go on reading the client's DONE.
func handleIdle(c *conn, cmd *imapwire.Command) error {
	if !c.resumed {
		c.w.Raw("+ idling").CRLF()
	}
	// A session restored from hibernation replays here what changed
	// while it slept (restoreState left a pending change); otherwise
	// changes that came before IDLE are sent now (RFC 2177 3).
	c.resumed = false
	if err := c.sendUpdates(true); err != nil {
		return err
	}
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

	// The reader runs on its own goroutine so that this one can wait for
	// changes too; only it touches the Decoder until it returns. While
	// hibernation may still come, it only peeks for the first byte, which
	// consumes nothing: it can be stopped without losing input.
	c.mu.Lock()
	c.nc.SetReadDeadline(time.Time{})
	c.mu.Unlock()
	type readResult struct {
		line   []byte
		err    error
		peeked bool
	}
	lines := make(chan readResult, 1)
	readLine := func() {
		go func() {
			line, err := c.dec.ReadLine()
			lines <- readResult{line: line, err: err}
		}()
	}
	peek := func() {
		go func() {
			_, err := c.br.Peek(1)
			lines <- readResult{err: err, peeked: true}
		}()
	}
	// hibernateC fires when the session should hibernate (Config.
	// HibernateAfter); nil once the client has started a line.
	var hibernateC <-chan time.Time
	var hibernateT *time.Timer
	if c.srv.hib != nil && c.br.Buffered() == 0 {
		hibernateT = time.NewTimer(c.srv.cfg.HibernateAfter)
		defer hibernateT.Stop()
		hibernateC = hibernateT.C
		peek()
	} else {
		readLine()
	}
	// stopReader ends the reader goroutine before this one returns.
	stopReader := func() {
		c.mu.Lock()
		c.nc.SetReadDeadline(time.Unix(1, 0))
		c.mu.Unlock()
		<-lines
	}

	var notify chan struct{}
	if c.sel != nil {
		notify = c.sel.notify
	}
	keepalive := time.NewTicker(c.srv.cfg.IdleKeepalive)
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
			if r.peeked {
				// The client speaks: read its line as before; no
				// hibernation during this IDLE any more.
				hibernateC = nil
				readLine()
				continue
			}
			if !strings.EqualFold(string(r.line), "DONE") {
				return errBAD("", "Expected DONE")
			}
			c.w.Raw(cmd.Tag).Raw(" OK IDLE terminated").CRLF()
			return errTaggedDone
		case <-hibernateC:
			hibernateC = nil
			st, err := c.exportState(cmd.Tag)
			if err != nil {
				c.refuseHibernation(err)
				continue // the peek goes on; no further try this IDLE
			}
			if c.bw.Buffered() > 0 || len(notify) > 0 {
				// Output or a change is pending: deal with it, and
				// try again one interval later.
				hibernateT.Reset(c.srv.cfg.HibernateAfter)
				hibernateC = hibernateT.C
				continue
			}
			// Stop the peek. Its deadline error leaves the bufio.Reader
			// empty and usable; a byte that won the race is kept.
			c.mu.Lock()
			c.nc.SetReadDeadline(time.Unix(1, 0))
			c.mu.Unlock()
			r := <-lines
			c.mu.Lock()
			c.nc.SetReadDeadline(time.Time{})
			c.mu.Unlock()
			var ne interface{ Timeout() bool }
			switch {
			case r.err == nil || c.br.Buffered() > 0:
				readLine()
				continue
			case !errors.As(r.err, &ne) || !ne.Timeout():
				return &byeError{text: "Connection error", err: r.err}
			}
			if err := c.hibernate(st); err != nil {
				c.refuseHibernation(err)
				peek()
				continue
			}
			return errHibernated
		case <-notify:
			if err := c.refresh(); err != nil {
				stopReader()
				return err
			}
			if err := c.flush(); err != nil {
				stopReader()
				return &byeError{text: "write failed", err: err}
			}
		case <-keepalive.C:
			c.w.Raw("* OK Still here").CRLF()
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
