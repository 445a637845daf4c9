package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// maxResend bounds the client bytes the relay keeps after forwarding
// them: what a hop closed by XSLEEP may not have read, sent again on the
// next hop. A backend hands a session over only at a command boundary
// with everything it read answered, so this is the few bytes that
// crossed the handover on the wire.
const maxResend = 32 << 10

// writeTimeout bounds how long one write to the client, or to a
// backend, may block (imapserver's own bound), so that a peer that stops
// reading cannot pin the relay forever.
const writeTimeout = 5 * time.Minute

// errHopWrite says the relay could not write to the backend (it closed
// the hop: a handover or its end).
var errHopWrite = errors.New("write to backend failed")

// relayState is what the two directions of a relay share.
type relayState struct {
	done chan struct{} // closed when the backend direction ends

	mu sync.Mutex
	// litTag is the tag of a command whose synchronising literal waits
	// for the backend's "+" (true on litGo) or its refusal (false).
	litTag string
	litGo  chan bool
	// wmu serialises writes to the client (the backend's output, and
	// the proxy's own answers from the client direction).
	wmu sync.Mutex
	// bye says the backend said "* BYE" (LOGOUT, its shutdown): its
	// end is the session's, and the client has heard why.
	bye bool
}

// relay carries the session over h, and over the hops after it when the
// backend hands the session over and the proxy cannot keep it asleep.
// resend is client input to send on h first. It returns when the client
// is gone or asleep.
func (c *client) relay(h *hop, resend []byte) {
	for {
		ho, err := c.relayOnce(h, resend)
		if err != nil {
			c.end()
			return
		}
		if len(ho.unread) == 0 && c.in.idle() {
			err := c.p.sleep.sleep(c, ho.blob)
			if err == nil {
				return
			}
			c.log.Debug("stays awake after handover", "err", err)
		}
		h, err = c.resume(ho.blob)
		if err != nil {
			c.unavailable("", err)
			return
		}
		resend = ho.unread
	}
}

// resume opens a hop on which the backend restores blob (XRESUME).
func (c *client) resume(blob []byte) (*hop, error) {
	h, _, err := c.openHop("xresume", func(h *hop) (string, error) {
		return "", h.xresume(c.p.cfg.Secret, c.raw.RemoteAddr().String(), blob, c.p.cfg.DialTimeout)
	})
	return h, err
}

// unavailable tells the client that its backend is gone, with a tagged
// NO for tag's command when there is one, and ends the connection.
func (c *client) unavailable(tag string, err error) {
	c.log.Warn("backend unavailable", "backend", c.backend, "err", err)
	c.raw.SetWriteDeadline(time.Now().Add(time.Second))
	if tag != "" {
		c.w.WriteString(tag + " NO [UNAVAILABLE] Backend unavailable\r\n")
	}
	var re *refusedError
	if errors.As(err, &re) {
		c.say("* BYE " + re.byeText())
	} else {
		c.say("* BYE [UNAVAILABLE] Backend unavailable, try again later")
	}
	c.end()
}

// end closes an awake client and lets go of its user.
func (c *client) end() {
	c.closeTop()
	if c.user != "" {
		c.p.users.release(c.user)
		c.user = ""
	}
}

// relayOnce relays between the client and h until one side ends: the
// handover when the backend handed the session over (XSLEEP); an error
// when the connection is over (the client is gone, or the backend is and
// the client was told).
func (c *client) relayOnce(h *hop, resend []byte) (*handover, error) {
	st := &relayState{done: make(chan struct{})}
	type result struct {
		ho  *handover
		err error
	}
	downc := make(chan result, 1)
	go func() {
		ho, err := c.down(h, st)
		close(st.done)
		h.nc.Close()
		// Stop the client direction: it holds what it read.
		c.top.SetReadDeadline(time.Now())
		downc <- result{ho, err}
	}()
	if len(resend) > 0 {
		if err := h.write(resend); err != nil {
			c.log.Debug("resend", "err", err)
		}
	}
	upErr := c.up(h, st)
	if !errors.Is(upErr, errHopWrite) && !errors.Is(upErr, os.ErrDeadlineExceeded) {
		// The client is gone (or flooded): the backend's direction ends
		// with the hop.
		h.nc.Close()
		<-downc
		if upErr != nil && !errors.Is(upErr, io.EOF) && !errors.Is(upErr, net.ErrClosed) {
			c.log.Debug("client", "err", upErr)
		}
		return nil, fmt.Errorf("client: %w", upErr)
	}
	r := <-downc
	c.top.SetReadDeadline(time.Time{})
	if r.err != nil && st.said() {
		return nil, r.err // the backend said BYE: the client knows
	}
	if r.err != nil {
		c.unavailable("", r.err)
		return nil, r.err
	}
	// Only now, with the client direction stopped, is every byte it
	// wrote to the hop counted: what the backend did not read of them
	// goes to the next hop.
	unread, ok := h.unread(r.ho.read)
	if !ok {
		err := fmt.Errorf("handover from %s read %d of %d bytes written", h.addr, r.ho.read, h.written)
		c.unavailable("", err)
		return nil, err
	}
	r.ho.unread = bytes.Clone(unread)
	return r.ho, nil
}

// up forwards the client's input to the backend, line by line with the
// literals they announce, and answers COMPRESS itself. It returns the
// client's error, errHopWrite, or a deadline error when down stopped
// it; what it read of a line stays in c.in.
func (c *client) up(h *hop, st *relayState) error {
	lim := c.p.cfg.Limits
	atCommand := true
	cmdTag := ""
	for {
		if c.in.litLeft > 0 {
			chunk := min(c.in.litLeft, 32<<10)
			buf, err := c.in.r.Peek(int(min(chunk, int64(c.in.r.Size()))))
			if len(buf) == 0 {
				return err
			}
			if err := c.forward(h, st, buf); err != nil {
				return err
			}
			c.in.r.Discard(len(buf))
			c.in.litLeft -= int64(len(buf))
			continue
		}
		line, err := c.in.readLine()
		if errors.Is(err, errLineTooLong) {
			st.wmu.Lock()
			c.say("* BYE [TOOBIG] Line too long")
			st.wmu.Unlock()
			return err
		}
		if err != nil {
			return err
		}
		if atCommand {
			var name string
			cmdTag, name = tagAndName(line)
			if name == "COMPRESS" {
				if err := c.compress(cmdTag, line, st); err != nil {
					return err
				}
				continue
			}
		}
		n, sync, ok := literal(line)
		if ok && n > lim.MaxLiteral {
			st.wmu.Lock()
			c.w.WriteString(cmdTag + " BAD [TOOBIG] Literal too large\r\n")
			c.say("* BYE [TOOBIG] Literal too large")
			st.wmu.Unlock()
			return fmt.Errorf("literal of %d bytes", n)
		}
		if ok && sync {
			st.mu.Lock()
			st.litTag, st.litGo = cmdTag, make(chan bool, 1)
			st.mu.Unlock()
		}
		if err := c.forward(h, st, line); err != nil {
			return err
		}
		atCommand = !ok
		if ok && sync {
			select {
			case goOn := <-st.litGo:
				if !goOn {
					atCommand = true // refused: the literal will not come
					continue
				}
			case <-st.done:
				return errHopWrite
			}
		}
		if ok {
			c.in.litLeft = n
		}
	}
}

// forward sends client input to the backend.
func (c *client) forward(h *hop, st *relayState, p []byte) error {
	return h.write(p)
}

// down forwards the backend's output to the client until the backend
// hands the session over (the blob) or ends (an error).
func (c *client) down(h *hop, st *relayState) (*handover, error) {
	var litLeft int64
	atLine := true
	var tail []byte // the end of the current line, for its literal
	for {
		if litLeft > 0 {
			buf, err := h.r.Peek(int(min(litLeft, int64(h.r.Size()))))
			if len(buf) == 0 {
				return nil, err
			}
			if err := c.toClient(st, buf, h.r.Buffered() == len(buf) && litLeft == int64(len(buf))); err != nil {
				return nil, err
			}
			h.r.Discard(len(buf))
			litLeft -= int64(len(buf))
			continue
		}
		frag, err := h.r.ReadSlice('\n')
		if atLine && len(frag) > 0 {
			if err == nil && isSleep(frag) {
				// What the backend said before it may have come in
				// the same read, and still be in the client's buffer:
				// the client must have it before it sleeps, since the
				// blob says it knows (a lost EXISTS otherwise).
				if err := c.toClient(st, nil, true); err != nil {
					return nil, err
				}
				return h.readSleep(frag)
			}
			st.answered(frag)
		}
		if len(frag) > 0 {
			whole := err == nil
			if whole {
				tail = append(tail, frag[max(0, len(frag)-32):]...)
				if n, _, ok := literal(tail); ok {
					litLeft = n
				}
				tail = tail[:0]
			} else {
				tail = append(tail[:0], frag[max(0, len(frag)-32):]...)
			}
			flush := whole && litLeft == 0 && h.r.Buffered() == 0
			if err := c.toClient(st, frag, flush); err != nil {
				return nil, err
			}
			atLine = whole
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("backend %s: %w", h.addr, err)
		}
	}
}

// answered notes a line the backend said: a "+" or the tagged answer of
// a command waiting to send its literal lets the client direction go on.
func (st *relayState) answered(line []byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if bytes.HasPrefix(line, []byte("* BYE")) {
		st.bye = true
	}
	if st.litTag == "" {
		return
	}
	switch {
	case line[0] == '+':
		st.litGo <- true
	case bytes.HasPrefix(line, []byte(st.litTag+" ")):
		st.litGo <- false
	default:
		return
	}
	st.litTag = ""
}

// said reports whether the backend said BYE.
func (st *relayState) said() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.bye
}

// toClient writes the backend's output to the client, flushing when
// nothing more is at hand.
func (c *client) toClient(st *relayState, p []byte, flush bool) error {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	c.raw.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.w.Write(p); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if flush {
		if err := c.w.Flush(); err != nil {
			return fmt.Errorf("client: %w", err)
		}
	}
	return nil
}
