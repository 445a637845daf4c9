package tls13rec

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// closeTimeout bounds the write of a closing alert, as crypto/tls does.
const closeTimeout = 5 * time.Second

// Conn is a TLS 1.3 connection after its handshake, on its record state
// alone: application data both ways, the peer's KeyUpdate (answered with
// our own when it asks), close_notify and the other alerts. Any record
// error sends its alert and ends the connection; errors stick. Reads
// and writes may run concurrently, as on a net.Conn; a read deadline
// that passes in the middle of a record keeps what arrived.
type Conn struct {
	raw net.Conn

	rmu   sync.Mutex // guards in, rbuf, plain, rerr
	in    halfConn
	rbuf  []byte // raw input: the start of the next records
	plain []byte // opened application data not yet read
	rerr  error

	wmu  sync.Mutex // guards out, wbuf, werr
	out  halfConn
	wbuf []byte
	werr error
}

// NewConn continues the TLS 1.3 connection whose record state is st on
// raw, its socket; in is raw input already read from the socket (the
// start of records), which is read first.
func NewConn(raw net.Conn, st State, in []byte) (*Conn, error) {
	r, w, err := st.halves()
	if err != nil {
		return nil, err
	}
	return &Conn{raw: raw, in: r, out: w, rbuf: append([]byte(nil), in...)}, nil
}

// NetConn returns the socket under c.
func (c *Conn) NetConn() net.Conn { return c.raw }

// Pending reports whether input is buffered in c above the socket
// (opened data or part of a record), where a poller watching the socket
// cannot see it.
func (c *Conn) Pending() bool {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return len(c.plain) > 0 || len(c.rbuf) > 0
}

// Export returns c's record state for hibernation: c must then not be
// used again (its sequence numbers would repeat). It fails when input is
// pending or either direction has failed.
func (c *Conn) Export() (State, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	switch {
	case len(c.plain) > 0 || len(c.rbuf) > 0:
		return State{}, errors.New("tls13rec: input pending")
	case c.rerr != nil:
		return State{}, c.rerr
	case c.werr != nil:
		return State{}, c.werr
	}
	st := State{
		Suite:       c.in.suite.id,
		ReadSecret:  append([]byte(nil), c.in.secret...),
		ReadSeq:     c.in.seq,
		WriteSecret: append([]byte(nil), c.out.secret...),
		WriteSeq:    c.out.seq,
	}
	err := errors.New("tls13rec: connection exported")
	c.rerr, c.werr = err, err
	return st, nil
}

// Read reads application data.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.plain) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if len(p) == 0 {
			return 0, nil
		}
		if err := c.readRecord(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	if len(c.plain) == 0 {
		c.plain = nil
	}
	return n, nil
}

// readRecord reads and handles one record (c.rmu held); an error that is
// not a passing deadline sticks.
func (c *Conn) readRecord() error {
	for {
		n, err := recordLen(c.rbuf)
		if err != nil {
			return c.fail(err)
		}
		if n > 0 && len(c.rbuf) >= n {
			break
		}
		if err := c.fill(max(n, headerLen)); err != nil {
			return err
		}
	}
	n, _ := recordLen(c.rbuf)
	rec := c.rbuf[:n]
	typ, content, err := c.in.open(rec)
	if err != nil {
		return c.fail(err)
	}
	// content aliases rbuf: the rest of the input moves after it is used.
	defer c.consume(n)
	switch typ {
	case typeApplicationData:
		c.plain = append(c.plain[:0], content...)
		return nil
	case typeAlert:
		return c.alert(content)
	case typeHandshake:
		return c.handshake(content)
	}
	return c.fail(alertf(alertUnexpectedMessage, "record of content type %d after the handshake", typ))
}

// consume drops the first n bytes of rbuf, and the buffer with them when
// nothing follows, so that an idle Conn holds no record-sized buffer.
func (c *Conn) consume(n int) {
	if n == len(c.rbuf) {
		c.rbuf = nil
		return
	}
	c.rbuf = append(c.rbuf[:0], c.rbuf[n:]...)
}

// fill reads from the socket until rbuf holds at least want bytes.
func (c *Conn) fill(want int) error {
	if cap(c.rbuf) < want {
		nb := make([]byte, len(c.rbuf), max(want, min(2*cap(c.rbuf), maxRecord), 512))
		copy(nb, c.rbuf)
		c.rbuf = nb
	}
	for len(c.rbuf) < want {
		n, err := c.raw.Read(c.rbuf[len(c.rbuf):cap(c.rbuf)])
		c.rbuf = c.rbuf[:len(c.rbuf)+n]
		if err != nil && len(c.rbuf) < want {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return err // the record's start stays for the next Read
			}
			if errors.Is(err, io.EOF) {
				if len(c.rbuf) > 0 {
					err = io.ErrUnexpectedEOF
				}
				// No close_notify: a truncation, reported as such.
				c.rerr = err
				return err
			}
			c.rerr = err
			return err
		}
	}
	return nil
}

// alert handles an alert record from the peer.
func (c *Conn) alert(content []byte) error {
	if len(content) != 2 {
		return c.fail(alertf(alertDecodeError, "alert of %d bytes", len(content)))
	}
	switch content[1] {
	case alertCloseNotify:
		c.rerr = io.EOF
		return io.EOF
	case alertUserCanceled:
		return nil // a close_notify follows
	}
	c.rerr = &AlertError{Alert: content[1], Received: true}
	c.raw.Close()
	return c.rerr
}

// handshake handles a post-handshake message: only KeyUpdate is
// accepted, whole in its record and alone at its end (RFC 8446 5.1: a
// handshake message must not span a key change). A client sends no
// NewSessionTicket, and post-handshake authentication is never asked
// for, so anything else is unexpected.
func (c *Conn) handshake(content []byte) error {
	if len(content) < 4 || content[0] != handshakeKeyUpdate {
		return c.fail(alertf(alertUnexpectedMessage, "post-handshake message that is not a KeyUpdate"))
	}
	if len(content) != 5 || content[1] != 0 || content[2] != 0 || content[3] != 1 {
		return c.fail(alertf(alertDecodeError, "KeyUpdate of %d bytes", len(content)))
	}
	req := content[4]
	if req > 1 {
		return c.fail(alertf(alertIllegalParameter, "KeyUpdate request %d", req))
	}
	if err := c.in.update(); err != nil {
		return c.fail(alertf(alertInternalError, "%v", err))
	}
	if req == 1 {
		// update_requested: our own KeyUpdate (not requesting one) goes
		// before any further data of ours. It is written within
		// closeTimeout: a write deadline left from long ago (a session
		// waiting for its next command) must not fail it; the next
		// writer sets its own.
		c.wmu.Lock()
		c.raw.SetWriteDeadline(time.Now().Add(closeTimeout))
		err := c.sendKeyUpdate()
		c.wmu.Unlock()
		if err != nil {
			c.rerr = err
			return err
		}
	}
	return nil
}

// sendKeyUpdate sends a KeyUpdate (update_not_requested) and moves the
// write direction to the next secret (c.wmu held).
func (c *Conn) sendKeyUpdate() error { return c.sendKeyUpdateReq(0) }

// sendKeyUpdateReq sends a KeyUpdate with request_update req (c.wmu held).
func (c *Conn) sendKeyUpdateReq(req byte) error {
	if c.werr != nil {
		return c.werr
	}
	rec, err := c.out.seal(c.wbuf[:0], typeHandshake, []byte{handshakeKeyUpdate, 0, 0, 1, req})
	if err == nil {
		err = c.out.update()
	}
	if err == nil {
		_, err = c.raw.Write(rec)
	}
	if err != nil {
		c.werr = fmt.Errorf("tls13rec: key update: %w", err)
		return c.werr
	}
	return nil
}

// fail sends the alert of err (when it is one) and ends the connection.
func (c *Conn) fail(err error) error {
	var ae *AlertError
	if errors.As(err, &ae) && !ae.Received {
		c.sendAlert(ae.Alert)
	}
	c.rerr = err
	c.raw.Close()
	return err
}

// sendAlert sends a fatal alert, within closeTimeout, unless writing
// failed already.
func (c *Conn) sendAlert(alert uint8) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return
	}
	rec, err := c.out.seal(c.wbuf[:0], typeAlert, []byte{2, alert})
	c.werr = net.ErrClosed
	if err != nil {
		return
	}
	c.raw.SetWriteDeadline(time.Now().Add(closeTimeout))
	c.raw.Write(rec)
}

// Write writes application data, in records of at most 16 KiB.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	written := 0
	for len(p) > 0 {
		if c.out.seq >= keyUpdateAfter {
			if err := c.sendKeyUpdate(); err != nil {
				return written, err
			}
		}
		// A few records per socket write; never more than keyUpdateAfter
		// allows under one key.
		n := min(len(p), 4*maxPlaintext, int(keyUpdateAfter-c.out.seq)*maxPlaintext)
		buf, err := sealAll(&c.out, c.wbuf[:0], typeApplicationData, p[:n])
		if err != nil {
			c.werr = err
			return written, err
		}
		if cap(buf) <= 2*maxRecord {
			c.wbuf = buf[:0]
		}
		if _, err := c.raw.Write(buf); err != nil {
			// Part of a record may be out: the stream cannot go on.
			c.werr = fmt.Errorf("tls13rec: write: %w", err)
			return written, c.werr
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// Close sends close_notify (within closeTimeout) and closes the socket.
func (c *Conn) Close() error {
	c.wmu.Lock()
	if c.werr == nil {
		if rec, err := c.out.seal(c.wbuf[:0], typeAlert, []byte{1, alertCloseNotify}); err == nil {
			c.raw.SetWriteDeadline(time.Now().Add(closeTimeout))
			c.raw.Write(rec)
		}
		c.werr = net.ErrClosed
	}
	c.wbuf = nil
	c.wmu.Unlock()
	return c.raw.Close()
}

// LocalAddr returns the socket's local address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the socket's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets the socket's read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.raw.SetDeadline(t) }

// SetReadDeadline sets the socket's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline. A write that times
// out ends the connection's writing (part of a record may be out).
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// KeyUpdate sends a KeyUpdate and moves the write direction to its next
// secret; with request, it asks the peer to update its own too (RFC
// 8446 4.6.3). Write calls it by itself long before a sequence number
// could run out.
func (c *Conn) KeyUpdate(request bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if request {
		return c.sendKeyUpdateReq(1)
	}
	return c.sendKeyUpdateReq(0)
}
