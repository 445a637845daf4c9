package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/internal/imapdeflate"
	"github.com/dormouse/dormouse/internal/tls13rec"
	"github.com/dormouse/dormouse/notice"
)

// hibernator keeps the clients asleep at the proxy: a hibernate.Table
// of descriptors and blobs (the backend's blob, with the proxy's own
// transport state as extension kinds from hibernate.ExtDeflateWindow up,
// which never go to a backend), one hibernate.Poller for their sockets
// and one keepalive ticker.
//
// A sleeper is armed (in the table and the poller) or owned by exactly
// one goroutine, which took it out of both: the poller's callback (its
// socket is readable), the keepalive ticker or a notice, each after a
// successful Poller.Remove or the poller's own one-shot firing. No socket
// I/O happens under mu.
type hibernator struct {
	p      *Proxy
	poller *hibernate.Poller

	mu     sync.Mutex
	table  *hibernate.Table
	closed bool

	stop chan struct{}
	done chan struct{}
}

func newHibernator(p *Proxy) (*hibernator, error) {
	h := &hibernator{p: p, stop: make(chan struct{}), done: make(chan struct{})}
	h.table = hibernate.NewTable(hibernate.TableConfig{
		Capacity:  1024,
		Keepalive: p.cfg.IdleKeepalive,
	})
	poller, err := hibernate.NewPoller(h.ready)
	if err != nil {
		return nil, fmt.Errorf("proxy: poller: %w", err)
	}
	h.poller = poller
	go h.keepalives()
	return h, nil
}

func (h *hibernator) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.table.Len()
}

// sleeper is a sleeping client while a goroutine owns it.
type sleeper struct {
	fd int
	st hibernate.State
	// rec is a TLS 1.3 client's record state, recIn raw input read
	// asleep and not opened (part of a record).
	rec   *tls13rec.State
	recIn []byte
	// z is a compressed client's inflater state; zIn compressed input
	// read asleep that did not leave the inflater quiet (a full wake's
	// inflater reads it first).
	z   *inflateState
	zIn []byte
	// seq is its user's notice count when it was last armed or handed
	// over: notices after it may not be in its blob (arm).
	seq uint64
	// quietSeq, for a sleeper between commands, is its user's notice
	// count when its blob last stood for the mailbox (its handover, or
	// the DONE answered asleep): a new IDLE answered asleep must first
	// say what changed since, so a notice after it wakes the IDLE
	// instead (hibernate.ExtProxyQuiet).
	quietSeq uint64
}

// errMissed says a sleeper was not re-armed: a notice came while it was
// owned that wakes it (it must be woken instead).
var errMissed = errors.New("a notice came meanwhile")

// sleep puts c to sleep with blob, the backend's handover, after its
// relay ended with nothing of the client's pending. An error leaves c
// as it was (awake, for a resume).
func (h *hibernator) sleep(c *client, blob []byte) error {
	s := &sleeper{fd: -1}
	if err := s.st.UnmarshalBinary(blob); err != nil {
		return fmt.Errorf("handover blob: %w", err)
	}
	if c.z != nil {
		zs, ok := c.z.State()
		if !ok {
			return errors.New("compressed input pending")
		}
		s.z = &zs
	}
	if err := c.detach(s); err != nil {
		return err
	}
	c.p.track(c.raw, false)
	s.seq, s.quietSeq = c.noticeSeq, c.noticeSeq
	h.p.metrics.sleeps.Inc()
	if h.p.cfg.Slept != nil {
		h.p.cfg.Slept(time.Now())
	}
	h.rearm(s)
	return nil
}

// rearm arms an owned sleeper, or wakes it when a notice it missed
// wants that, or closes it when the proxy is closing.
func (h *hibernator) rearm(s *sleeper) {
	err := h.arm(s)
	switch {
	case err == nil:
	case errors.Is(err, errMissed):
		h.p.metrics.wakes.WithLabelValues(wakeNotice).Inc()
		h.wake(s, nil)
	default:
		h.bye(s, "* BYE Proxy shutting down\r\n")
	}
}

// detach takes c's socket out of the runtime into s, with the TLS 1.3
// record state when it has one. An error leaves c usable.
func (c *client) detach(s *sleeper) error {
	switch {
	case c.rc != nil:
		if c.rc.Pending() {
			return errors.New("tls input pending")
		}
		rs, err := c.rc.Export()
		if err != nil {
			return fmt.Errorf("tls export: %w", err)
		}
		s.rec = &rs
		return c.detachSocket(s)
	case c.tc != nil:
		if imapserver.TLSPending(c.tc) {
			return errors.New("tls input pending")
		}
		rs, err := c.rec.Detach(c.tc)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		s.rec = &rs
		return c.detachSocket(s)
	}
	return c.detachSocket(s)
}

// detachSocket takes the TCP socket under every layer out of the runtime.
func (c *client) detachSocket(s *sleeper) error {
	fd, err := hibernate.Detach(c.raw)
	if err != nil {
		if s.rec != nil {
			// The record state has left the TLS layer: the connection
			// cannot go on.
			c.raw.Close()
		}
		return fmt.Errorf("detach: %w", err)
	}
	s.fd = fd
	return nil
}

// blob is the sleeper's table blob: its state with its transport state.
func (s *sleeper) blob() ([]byte, error) {
	st := s.st
	st.ExtState = slices.DeleteFunc(slices.Clone(st.ExtState), func(x hibernate.ExtState) bool {
		return x.Kind >= hibernate.ExtDeflateWindow
	})
	if s.z != nil {
		st.ExtState = append(st.ExtState, hibernate.ExtState{Kind: hibernate.ExtDeflateWindow, Data: appendInflateState(nil, *s.z)})
	}
	if s.rec != nil {
		data, err := s.rec.AppendBinary(nil)
		if err != nil {
			return nil, err
		}
		st.ExtState = append(st.ExtState, hibernate.ExtState{Kind: hibernate.ExtTLSRecord, Data: data})
	}
	if st.IdleTag == "" {
		st.ExtState = append(st.ExtState, hibernate.ExtState{Kind: hibernate.ExtProxyQuiet, Data: binary.AppendUvarint(nil, s.quietSeq)})
	}
	return st.MarshalBinary()
}

// backendBlob is the sleeper's state as a backend resumes it: without
// the proxy's transport state.
func (s *sleeper) backendBlob() ([]byte, error) {
	st := s.st
	st.ExtState = slices.DeleteFunc(slices.Clone(st.ExtState), func(x hibernate.ExtState) bool {
		return x.Kind >= hibernate.ExtDeflateWindow
	})
	st.TLS = false
	return st.MarshalBinary()
}

// sleeperOf decodes a table entry.
func sleeperOf(fd int, blob []byte) (*sleeper, error) {
	s := &sleeper{fd: fd}
	if err := s.st.UnmarshalBinary(blob); err != nil {
		return nil, err
	}
	for _, x := range s.st.ExtState {
		switch x.Kind {
		case hibernate.ExtTLSRecord:
			s.rec = new(tls13rec.State)
			if err := s.rec.UnmarshalBinary(x.Data); err != nil {
				return nil, err
			}
		case hibernate.ExtDeflateWindow:
			zs, err := parseInflateState(x.Data)
			if err != nil {
				return nil, err
			}
			s.z = &zs
		case hibernate.ExtProxyQuiet:
			v, n := binary.Uvarint(x.Data)
			if n <= 0 {
				return nil, errors.New("proxy quiet state: corrupt")
			}
			s.quietSeq = v
		}
	}
	return s, nil
}

// arm puts an owned sleeper (back) into the table and the poller.
func (h *hibernator) arm(s *sleeper) error {
	blob, err := s.blob()
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("proxy closed")
	}
	if h.p.users.missed(s.st.User, s.seq, func(n *notice.Notice) bool { return wakes(&s.st, n) }) {
		return errMissed
	}
	tok, err := h.table.Insert(s.fd, s.st.User, waitKey(&s.st), blob, time.Now())
	if err != nil {
		return err
	}
	if err := h.poller.Add(s.fd, uint64(tok)); err != nil {
		h.table.Remove(tok)
		return err
	}
	return nil
}

// take removes tok's sleeper from the table for its new owner, whose
// descriptor is out of the poller already (it fired, or Remove took it).
// h.mu held.
func (h *hibernator) take(tok hibernate.Token) (*sleeper, error) {
	info, err := h.table.Lookup(tok)
	if err != nil {
		return nil, err
	}
	blob, err := h.table.AppendBlob(nil, tok)
	if err != nil {
		return nil, err
	}
	h.table.Remove(tok)
	s, err := sleeperOf(info.FD, blob)
	if err != nil {
		return nil, err
	}
	s.seq = h.p.users.seq(s.st.User)
	return s, nil
}

// ready is the poller's callback: the sleeper's client said something
// (or hung up). It must not block.
func (h *hibernator) ready(token uint64) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	s, err := h.take(hibernate.Token(token))
	h.p.wg.Add(1)
	h.mu.Unlock()
	if err != nil {
		h.p.wg.Done()
		h.p.log.Warn("sleeper", "err", err)
		return
	}
	go func() {
		defer h.p.wg.Done()
		h.answer(s)
	}()
}

// maxAsleep bounds the client input a sleeper reads at once: a DONE and a
// new IDLE fit many times over.
const maxAsleep = 4 << 10

// answer serves what the sleeper's client sent: DONE and IDLE are
// answered asleep, anything else wakes the session on a backend.
func (h *hibernator) answer(s *sleeper) {
	text, err := s.read()
	if errors.Is(err, io.EOF) {
		h.gone(s)
		return
	}
	if err != nil {
		h.p.metrics.wakes.WithLabelValues(wakeClient).Inc()
		h.wake(s, text)
		return
	}
	var out []byte
	rest := text
	for len(rest) > 0 {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			break // part of a line: the woken session reads the rest
		}
		l := bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case s.st.IdleTag != "" && bytes.EqualFold(l, []byte("DONE")):
			out = append(out, s.st.IdleTag+" OK IDLE terminated\r\n"...)
			s.st.IdleTag = ""
			s.quietSeq = s.seq
		case s.st.IdleTag == "" && isIdle(l) && !h.changedSince(s):
			tag, _ := tagAndName(l)
			out = append(out, "+ idling\r\n"...)
			// The count again if the client may have missed it, as
			// the backend's own sleepers say it (imapview.ExistsAgain).
			if line, next := imapview.ExistsAgain(&s.st); next != nil {
				out = append(out, line...)
				s.st = *next
			}
			s.st.IdleTag = tag
		default:
			h.say(s, out)
			h.p.metrics.wakes.WithLabelValues(wakeClient).Inc()
			h.wake(s, rest)
			return
		}
		rest = after
	}
	if err := h.say(s, out); err != nil {
		h.gone(s)
		return
	}
	if len(rest) > 0 || len(s.recIn) > 0 {
		// Part of a line, or part of a TLS record (which the table
		// cannot keep): the woken session reads the rest.
		h.p.metrics.wakes.WithLabelValues(wakeClient).Inc()
		h.wake(s, rest)
		return
	}
	h.p.metrics.answered.Inc()
	h.rearm(s)
}

// changedSince reports whether a notice heard since the sleeper last
// stood for its mailbox may change what it knows: then the IDLE it starts
// wakes it, and the backend says what changed, as an awake IDLE does
// first.
func (h *hibernator) changedSince(s *sleeper) bool {
	return h.p.users.missed(s.st.User, s.quietSeq, func(n *notice.Notice) bool {
		if hasNotify(&s.st) {
			return true
		}
		return s.st.Mailbox != "" && n.Changes(s.st.Mailbox, s.st.UIDValidity, s.st.HighestModSeq, s.st.UIDNext)
	})
}

// isIdle reports whether a command line is "tag IDLE".
func isIdle(line []byte) bool {
	tag, name := tagAndName(line)
	return name == "IDLE" && len(tag)+len(" IDLE") == len(line)
}

// read reads what the client sent, opened (TLS) and inflated (COMPRESS).
// An error other than io.EOF leaves input for a full wake (in s.recIn,
// or unread in the socket).
func (s *sleeper) read() ([]byte, error) {
	raw := make([]byte, maxAsleep)
	held := copy(raw, s.recIn)
	n, err := hibernate.ReadFD(s.fd, raw[held:])
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if n == 0 {
		return nil, io.EOF
	}
	raw = raw[:held+n]
	if s.rec != nil {
		text, used, err := s.rec.OpenData(nil, raw)
		s.recIn = append(s.recIn[:0], raw[used:]...)
		if err != nil || len(text) == 0 {
			if s.z != nil {
				// Compressed: the woken inflater's input, not text.
				s.zIn = text
				text = nil
			}
			return text, errors.New("tls record for a full wake")
		}
		raw = text
	}
	if s.z != nil {
		text, next, ok, _ := inflateAsleep(*s.z, raw)
		if !ok {
			s.zIn = bytes.Clone(raw)
			return nil, errors.New("compressed input for a full wake")
		}
		*s.z = next
		raw = text
	}
	return raw, nil
}

// say writes p to the sleeper's client, sealed and compressed as its
// transport wants, without blocking.
func (h *hibernator) say(s *sleeper, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if s.z != nil {
		p = deflateWire(p)
	}
	if s.rec != nil {
		out, err := s.rec.Seal(nil, p)
		if err != nil {
			return err
		}
		p = out
	}
	n, err := hibernate.WriteFDN(s.fd, p)
	if err == nil && n < len(p) {
		err = fmt.Errorf("wrote %d of %d bytes", n, len(p))
	}
	return err
}

// gone closes a sleeper whose client left.
func (h *hibernator) gone(s *sleeper) {
	hibernate.CloseFD(s.fd)
	h.p.users.release(s.st.User)
}

// bye says line (a BYE) and closes the sleeper.
func (h *hibernator) bye(s *sleeper, line string) {
	out := []byte(line)
	if s.z != nil {
		out = deflateWire(out)
	}
	if s.rec != nil {
		if sealed, err := s.rec.Seal(nil, out); err == nil {
			out, _ = s.rec.CloseNotify(sealed)
		}
	}
	hibernate.WriteFDN(s.fd, out)
	h.gone(s)
}

// wake restores the sleeper as an awake client on a backend, text being
// the client's input read asleep and not answered.
func (h *hibernator) wake(s *sleeper, text []byte) {
	blob, err := s.backendBlob()
	if err != nil {
		h.bye(s, "* BYE Session cannot resume\r\n")
		return
	}
	c, err := h.attach(s, text)
	if err != nil {
		h.p.log.Warn("wake", "err", err)
		h.p.users.release(s.st.User)
		return
	}
	hp, err := c.resume(blob)
	if err != nil {
		tag := ""
		if line, _, ok := bytes.Cut(text, []byte("\n")); ok {
			if t, name := tagAndName(line); name != "" && name != "DONE" {
				tag = t
			}
		}
		c.unavailable(tag, err)
		return
	}
	c.relay(hp, nil)
}

// attach turns an owned sleeper back into an awake client, whose reader
// gives text first.
func (h *hibernator) attach(s *sleeper, text []byte) (*client, error) {
	nc, err := hibernate.Attach(s.fd)
	if err != nil {
		return nil, err
	}
	c := newClient(h.p, nc)
	c.user = s.st.User
	c.log = c.log.With("user", c.user)
	if s.rec != nil {
		rc, err := tls13rec.NewConn(nc, *s.rec, s.recIn)
		if err != nil {
			nc.Close()
			return nil, err
		}
		c.rc, c.top = rc, rc
	}
	var r io.Reader = c.top
	var w io.Writer = c.top
	if s.z != nil {
		var in io.Reader = c.top
		if len(s.zIn) > 0 {
			in = io.MultiReader(bytes.NewReader(s.zIn), c.top)
		}
		c.z = imapdeflate.NewStream(in, c.top, *s.z)
		r, w = c.z, c.z
	}
	if len(text) > 0 {
		r = io.MultiReader(bytes.NewReader(text), r)
	}
	c.setStreams(r, w)
	if !h.p.track(nc, true) {
		nc.Close()
		return nil, errors.New("proxy closed")
	}
	return c, nil
}

// keepalives writes "* OK Still here" to IDLE sleepers every
// IdleKeepalive, from the table's wheel.
func (h *hibernator) keepalives() {
	defer close(h.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var toks []hibernate.Token
	var owned, idle []*sleeper
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.mu.Lock()
			toks = h.table.AppendDueKeepalives(toks[:0], now)
			owned, idle = owned[:0], idle[:0]
			for _, tok := range toks {
				switch h.dueKeepalive(tok, now) {
				case keepaliveSay:
					if s := h.own(tok); s != nil {
						owned = append(owned, s)
					}
				case keepaliveLogout:
					if s := h.own(tok); s != nil {
						idle = append(idle, s)
					}
				}
			}
			h.mu.Unlock()
			for _, s := range idle {
				h.bye(s, "* BYE Autologout; idle for too long\r\n")
			}
			for _, s := range owned {
				if s.st.IdleTag != "" {
					if err := h.say(s, []byte("* OK Still here\r\n")); err != nil {
						h.gone(s)
						continue
					}
				}
				if err := h.arm(s); errors.Is(err, errMissed) {
					h.wakeOwned([]*sleeper{s}, wakeNotice)
				} else if err != nil {
					h.bye(s, "* BYE Proxy shutting down\r\n")
				}
			}
		}
	}
}

// What a sleeper's due keepalive asks for.
const (
	keepaliveNone   = iota // a quiet sleeper within its idle time: nothing
	keepaliveSay           // an IDLE sleeper: "* OK Still here"
	keepaliveLogout        // a quiet sleeper past Limits.IdleTimeout
)

// dueKeepalive says what tok's due keepalive asks for (h.mu held). A
// sleeper between commands gets no keepalive; it is logged out once it
// has slept IdleTimeout (counted from its handover, which came
// hibernate_after after its last command), as the server's autologout.
func (h *hibernator) dueKeepalive(tok hibernate.Token, now time.Time) int {
	blob, err := h.table.AppendBlob(nil, tok)
	if err != nil {
		return keepaliveNone
	}
	var st hibernate.State
	if st.UnmarshalBinary(blob) != nil {
		return keepaliveNone
	}
	if st.IdleTag != "" {
		return keepaliveSay
	}
	info, err := h.table.Lookup(tok)
	if err == nil && h.p.cfg.Limits.IdleTimeout > 0 && now.Sub(info.Since) >= h.p.cfg.Limits.IdleTimeout {
		return keepaliveLogout
	}
	return keepaliveNone
}

// own takes an armed sleeper out of the poller and the table (h.mu
// held); nil when its descriptor fired meanwhile (its callback owns it).
func (h *hibernator) own(tok hibernate.Token) *sleeper {
	info, err := h.table.Lookup(tok)
	if err != nil || h.poller.Remove(info.FD) != nil {
		return nil
	}
	s, err := h.take(tok)
	if err != nil {
		hibernate.CloseFD(info.FD)
		return nil
	}
	return s
}

// close says BYE to every sleeper and stops the poller and the ticker.
func (h *hibernator) close() {
	close(h.stop)
	<-h.done
	h.mu.Lock()
	h.closed = true
	var owned []*sleeper
	for _, tok := range h.table.AppendTokens(nil) {
		if s := h.own(tok); s != nil {
			owned = append(owned, s)
		}
	}
	h.mu.Unlock()
	h.poller.Close()
	for _, s := range owned {
		h.bye(s, "* BYE Proxy shutting down\r\n")
	}
}
