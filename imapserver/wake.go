package imapserver

import (
	"bytes"
	"errors"
	"io"
	"net"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// wake brings a hibernated connection back: the descriptor becomes a
// net.Conn again (a TLS 1.3 sleeper's under a tls13rec.Conn on its record
// state; a sleeper that kept its tls.Conn gets it back as it is) and
// a new session goroutine restores the state and resumes the IDLE. It
// runs on its own goroutine, the owner of sleeper tok (waking) until the
// connection is registered with the server (or refused). in is what
// the sleeper already read from the client, the start of the session's
// input; out is what the sleeper owed the client when its socket was
// full, written before anything else. release ends fullWake's hold on
// the mailbox's watch, once the session has opened it (or failed to). q
// is the sleeper's NOTIFY queue, which the session takes over.
func (h *hibernator) wake(tok hibernate.Token, s sleeper, blob []byte, since time.Time, cause string, in, out []byte, decoded bool, release func(), q *notifyQueue) {
	var st hibernate.State
	c, nc, err := h.restore(s, blob, &st)
	h.mu.Lock()
	h.set(tok, gone)
	h.mu.Unlock()
	if (err != nil || c == nil) && q != nil {
		q.close()
	}
	if err != nil {
		h.srv.log.Error("wake", "user", st.User, "err", err)
		release()
		return
	}
	if c == nil {
		release()
		nc.SetWriteDeadline(time.Now().Add(sleeperIOTimeout))
		nc.Write([]byte(byeShutdown))
		nc.Close()
		return
	}
	c.releaseWatch = release
	c.wokenQueue = q
	h.srv.cfg.Metrics.woke(cause)
	c.log.Debug("woke", "cause", cause, "slept", time.Since(since))
	switch z, deflated, _ := deflateState(&st); { // checked by restore
	case deflated && decoded:
		// A fresh compressor, an inflater that goes on where the
		// sleeper's stood after in (compress.go), and in, text, first.
		c.startDeflate(nil, z, in)
	case deflated:
		// The same, with in decoded from the stored state.
		c.startDeflate(in, z, nil)
	case len(in) > 0:
		// The decoder reads through c.br: put the bytes in front.
		c.br.Reset(io.MultiReader(bytes.NewReader(in), countingReader{r: nc, m: h.srv.cfg.Metrics}))
	}
	if len(out) > 0 {
		// Blocks like any write of an active session; a failure shows
		// again at the session's first flush.
		countingWriter{nc, h.srv.cfg.Metrics}.Write(out)
	}
	c.run(&st)
}

// restore decodes a sleeper's blob into st and hands its connection to a
// new session, nil when the server is shutting down; on error the
// connection is lost.
func (h *hibernator) restore(s sleeper, blob []byte, st *hibernate.State) (*conn, net.Conn, error) {
	if err := st.UnmarshalBinary(blob); err != nil {
		// Our own blob: this is a bug, and the session is lost.
		s.close()
		return nil, nil, err
	}
	if _, _, err := deflateState(st); err != nil {
		s.close()
		return nil, nil, err
	}
	nc, err := s.conn()
	if err != nil {
		return nil, nil, err
	}
	return h.srv.wokenConn(nc), nc, nil
}

// resume restores the session of st and resumes its IDLE, which replays
// what changed while it slept and then reads the client's DONE as any
// IDLE does; a session whose IDLE ended asleep (no IdleTag) goes back to
// reading commands, and the next one replays. False ends the connection.
func (c *conn) resume(st *hibernate.State) bool {
	err := c.restoreState(st)
	c.releaseWatch()
	if c.wokenQueue != nil {
		// restoreState failed before it took the queue over.
		c.wokenQueue.close()
		c.wokenQueue = nil
	}
	if err != nil {
		// The replies an active session would have given (refresh).
		var be *byeError
		switch {
		case errors.Is(err, mailstore.ErrNoMailbox):
			c.bye("Selected mailbox was deleted, have to disconnect")
		case errors.As(storeError(err), &be):
			c.bye(be.text) // UIDVALIDITY changed
		default:
			c.log.Error("restore", "err", err)
			c.bye("Internal error")
		}
		return false
	}
	// Counted again as the user's connection, without a check: a
	// session in the middle of its IDLE cannot be refused.
	c.addrKey = addrKey(c.nc.RemoteAddr())
	c.countUser(c.username, true)
	if st.IdleTag == "" {
		return true
	}
	c.resumed = true
	return c.exec(&imapwire.Command{Tag: st.IdleTag, Name: "IDLE"})
}
