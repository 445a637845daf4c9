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
// Hibernation (Config.HibernateAfter) will hook in here: everything an
// idling session needs is c.sel (a small struct), c.enabled, the user name
// and the tag.
func handleIdle(c *conn, cmd *imapwire.Command) error {
	c.w.Raw("+ idling").CRLF()
	// Changes that came before IDLE are sent now (RFC 2177 3).
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

	// The line reader runs on its own goroutine so that this one can wait
	// for changes too; only it touches the Decoder until it returns.
	c.mu.Lock()
	c.nc.SetReadDeadline(time.Time{})
	c.mu.Unlock()
	type lineResult struct {
		line []byte
		err  error
	}
	lines := make(chan lineResult, 1)
	go func() {
		line, err := c.dec.ReadLine()
		lines <- lineResult{line, err}
	}()
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
			if !strings.EqualFold(string(r.line), "DONE") {
				return errBAD("", "Expected DONE")
			}
			c.w.Raw(cmd.Tag).Raw(" OK IDLE terminated").CRLF()
			return errTaggedDone
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
