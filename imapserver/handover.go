package imapserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// An upgrade hands this server's connections to a new process
// (docs/design.md, "Upgrade: handing over"). Handover is the old side:
// every plain sleeper goes, as its descriptor and state blob, to a
// Handoff; an IDLE awake on a selected mailbox hibernates at once and
// goes too; other sessions may finish their command and go when they next
// idle; what cannot go gets a BYE and is counted by reason. Adopt is the
// new side: a sleeper straight into the hibernation table, armed.

// Handoff sends one sleeper to the new process: fd is a bare TCP socket,
// still Handover's (it is closed after Handoff returns, without a byte
// written to it), blob the state blob. Handoff is called from several
// goroutines at once.
type Handoff func(fd int, blob []byte) error

// Reasons a connection was not moved by a handover (HandoverResult, and
// the metric dormouse_imap_upgrade_not_moved_total of the new process,
// Metrics.CountUpgrade).
const (
	// NotMovedTLS: a TLS connection that sleeps with its tls.Conn (TLS
	// 1.2, or a TLS 1.3 one whose record state was not proven:
	// sleeper_tls13.go). Go has no way to export a tls.Conn's record
	// state; a TLS 1.3 sleeper on its record state alone moves.
	NotMovedTLS = "tls"
	// NotMovedActive: a session that was not quiet and logged in when
	// the grace ended (not logged in, or still in a command).
	NotMovedActive = "active"
	// NotMovedError: the new process did not take it (Handoff failed).
	NotMovedError = "error"
)

// byeHandover is what a connection that cannot move is told.
const byeHandover = "* BYE Server restarting, please reconnect\r\n"

// handoverByeBound bounds the BYEs and closes after the grace.
const handoverByeBound = 5 * time.Second

// HandoverResult counts the connections of a handover.
type HandoverResult struct {
	Moved    int
	NotMoved map[string]int // by reason: NotMovedTLS, NotMovedActive, NotMovedError
}

// handoverCount is a HandoverResult filled from several goroutines.
type handoverCount struct {
	mu sync.Mutex
	r  HandoverResult
}

func (c *handoverCount) add(moved bool, reason string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if moved {
		c.r.Moved += n
		return
	}
	if c.r.NotMoved == nil {
		c.r.NotMoved = make(map[string]int)
	}
	c.r.NotMoved[reason] += n
}

// Handover stops accepting (its listeners are closed: the new process has
// its own copies of the sockets and accepts on them), passes every
// hibernated connection to send, hibernates the sessions that are quiet
// on a selected mailbox (in IDLE, or waiting for a command) at once and
// passes them too, and lets the other sessions run until ctx ends: one
// that finishes its command meanwhile moves as well. Then the rest are told BYE and closed, as by Shutdown, and the
// server is done. Sessions whose IDLE is waiting for the end of a
// client's line ("DONE") go on reading it.
func (s *Server) Handover(ctx context.Context, send Handoff) HandoverResult {
	var count handoverCount
	pass := func(sl sleeper, blob []byte) {
		if sl.tc != nil {
			sl.bye(byeHandover)
			count.add(false, NotMovedTLS, 1)
			return
		}
		err := send(sl.fd, blob)
		if err != nil {
			s.log.Warn("upgrade: hand over", "err", err)
			sl.bye(byeHandover)
			count.add(false, NotMovedError, 1)
			return
		}
		// The new process holds the socket now: closing this copy
		// sends nothing to the client.
		sl.close()
		count.add(true, "", 1)
	}

	// Waiting for a command or in IDLE, a session moves now (see
	// waitForCommand and idleWaiting). The listeners are the new
	// process's already: an error closing this process's copy changes
	// nothing.
	_ = s.stopAccepting(func() { s.handing.Store(true) })
	if s.hib != nil {
		// Owners finish and pass their sleepers on; sleepers woken by
		// now are connections in s.conns.
		s.hib.handOver(pass)
	}
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-s.connGone:
			continue
		case <-ctx.Done():
		}
		s.mu.Lock()
		n = len(s.conns)
		s.mu.Unlock()
		count.add(false, NotMovedActive, n)
		break
	}
	bctx, cancel := context.WithTimeout(context.Background(), handoverByeBound)
	defer cancel()
	if err := s.Shutdown(bctx); err != nil {
		s.log.Warn("upgrade: close what did not move", "err", err)
	}
	return count.r
}

// Adopt takes a sleeper handed over by the process this one replaces (see
// Handover): fd, a bare TCP socket, becomes the caller's no more, and the
// state blob is checked as input from outside (version, bounds, a plain
// connection of a logged-in user). The sleeper is armed as it was,
// in IDLE or between commands; changes made while it was on its way are
// found by CatchUp, changes from now on by the store's events. On error
// the client is told BYE.
func (s *Server) Adopt(fd int, blob []byte) error {
	st, err := adoptable(blob)
	if err == nil && s.hib == nil {
		err = errors.New("hibernation is off (imap.hibernate_after = 0)")
	}
	var rec *tlsRecord
	if st != nil {
		rec, _ = recordOf(st) // checked by adoptable
	}
	if err != nil {
		(sleeper{fd: fd, rec: rec, deflate: st != nil && compressed(st)}).bye(byeHandover)
		return fmt.Errorf("imapserver: adopt: %w", err)
	}
	// A session moved between commands has its autologout counted from
	// its adoption: the blob does not carry when it last spoke.
	if _, err := s.hib.sleep(sleeper{fd: fd, rec: rec}, st, time.Now(), nil); err != nil {
		return fmt.Errorf("imapserver: adopt: %w", err)
	}
	return nil
}

// adoptable decodes and checks a blob from another process.
func adoptable(blob []byte) (*hibernate.State, error) {
	if len(blob) > hibernate.MaxBlob {
		return nil, fmt.Errorf("state blob of %d bytes, at most %d", len(blob), hibernate.MaxBlob)
	}
	st := new(hibernate.State)
	if err := st.UnmarshalBinary(blob); err != nil {
		return nil, err
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	rec, err := recordOf(st)
	if err != nil {
		return nil, err
	}
	switch {
	case st.TLS && rec == nil:
		return nil, errors.New("state of a TLS connection without its record state")
	case !st.TLS && rec != nil:
		return nil, errors.New("record state of a connection without TLS")
	case st.User == "":
		return nil, errors.New("state without a user")
	}
	if _, _, err := deflateState(st); err != nil {
		return nil, err
	}
	return st, nil
}

// CatchUp tells every sleeper what changed in its mailbox since its state
// was exported, as an IDLE would have been told (nothing when nothing
// did): for the sleepers adopted from a process that wrote to the store
// until it exited, with no event in this one. Each mailbox is read once
// for all its sleepers, a few mailboxes at a time; it returns when all
// were, or ctx ended.
func (s *Server) CatchUp(ctx context.Context) {
	h := s.hib
	if h == nil {
		return
	}
	h.mu.Lock()
	subs := make(map[hibernate.SubID]bool)
	for _, tok := range h.table.AppendTokens(nil) {
		if info, err := h.table.Lookup(tok); err == nil {
			subs[info.Sub] = true
		}
	}
	h.mu.Unlock()
	ids := make(chan hibernate.SubID)
	var wg sync.WaitGroup
	for range catchUpWorkers {
		wg.Go(func() {
			for id := range ids {
				h.mailboxChanged(id, false, mailstore.Event{})
			}
		})
	}
	for id := range subs {
		select {
		case ids <- id:
		case <-ctx.Done():
		}
	}
	close(ids)
	wg.Wait()
}

// catchUpWorkers is how many mailboxes CatchUp reads at once.
const catchUpWorkers = 4
