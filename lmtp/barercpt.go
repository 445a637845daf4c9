package lmtp

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
)

// go-smtp (v0.25/v0.26) refuses a path without a domain, such as
// RCPT TO:<alice>, with 501, but LMTP clients (test tools, older MTAs)
// send bare local parts and Dovecot delivers them to the local part. The
// listener below qualifies such a path with the server's domain on its way
// in, "RCPT TO:<alice>" becoming "RCPT TO:<alice@DOMAIN>", which Resolve
// then maps to the user alice like any other address; the RCPT reply names
// the qualified address. Only command lines are rewritten: message data
// (after a 354 reply, or the bytes a BDAT command announces) passes
// untouched.

// bareRcptListener wraps the accepted connections in bareRcptConn.
type bareRcptListener struct {
	net.Listener
	domain string
}

func (l bareRcptListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &bareRcptConn{Conn: nc, br: bufio.NewReader(nc), domain: l.domain}, nil
}

// bareRcptConn rewrites bare RCPT paths in what the server reads. The
// server reads one line at a time from it and writes its replies in
// between, so a 354 it writes is seen before the first line of data is
// handed out. go-smtp reads a connection from one goroutine at a time;
// only data is shared with Write.
type bareRcptConn struct {
	net.Conn
	br     *bufio.Reader
	domain string

	data    atomic.Bool // inside DATA: until a line holding only "."
	pending []byte      // the rest of the current line, handed out by Read
	midLine bool        // the last line handed out was cut by the buffer size
	chunk   int64       // bytes of a BDAT chunk still to pass untouched
}

func (c *bareRcptConn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("354")) {
		c.data.Store(true)
	}
	return c.Conn.Write(p)
}

func (c *bareRcptConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		if c.chunk > 0 {
			n := int64(len(p))
			n = min(n, c.chunk)
			m, err := c.br.Read(p[:n])
			c.chunk -= int64(m)
			return m, err
		}
		line, err := c.br.ReadSlice('\n')
		if len(line) == 0 {
			return 0, err
		}
		atStart := !c.midLine
		c.midLine = errors.Is(err, bufio.ErrBufferFull)
		switch {
		case c.data.Load():
			if atStart && (string(line) == ".\r\n" || string(line) == ".\n") {
				c.data.Store(false)
			}
		case atStart && !c.midLine:
			line = c.command(line)
		}
		c.pending = line
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// command returns a command line with a bare RCPT path qualified, and
// notes the size of a BDAT chunk.
func (c *bareRcptConn) command(line []byte) []byte {
	const rcpt = "RCPT TO:"
	if len(line) > len(rcpt) && bytes.EqualFold(line[:len(rcpt)], []byte(rcpt)) {
		rest := bytes.TrimLeft(line[len(rcpt):], " \t")
		end := bytes.IndexByte(rest, '>')
		if len(rest) > 0 && rest[0] == '<' && end > 1 && !bytes.ContainsAny(rest[1:end], "@\"") {
			out := make([]byte, 0, len(line)+len(c.domain)+1)
			out = append(out, rcpt...)
			out = append(out, rest[:end]...)
			out = append(out, '@')
			out = append(out, c.domain...)
			return append(out, rest[end:]...)
		}
		return line
	}
	const bdat = "BDAT "
	if len(line) > len(bdat) && bytes.EqualFold(line[:len(bdat)], []byte(bdat)) {
		f := bytes.Fields(line[len(bdat):])
		if len(f) > 0 {
			if n, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil && n > 0 {
				c.chunk = n
			}
		}
	}
	return line
}
