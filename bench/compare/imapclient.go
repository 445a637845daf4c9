package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/dormouse/dormouse/internal/imapresp"
)

// Bounds on what the client accepts from a server.
const (
	maxLineBytes    = 1 << 20  // one response line, literals excluded
	maxLiteralBytes = 64 << 20 // one literal in a response
	maxReplyLines   = 1 << 22  // lines of one command's reply
)

// imapClient is a small raw IMAP client: one command at a time, untagged
// replies skipped except EXISTS and EXPUNGE, which keep the message count.
type imapClient struct {
	nc      net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	tag     int
	exists  int           // messages in the selected mailbox
	timeout time.Duration // per command
}

// dialIMAP connects to addr and reads the greeting.
func dialIMAP(ctx context.Context, addr string, timeout time.Duration) (*imapClient, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := &imapClient{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), bw: bufio.NewWriterSize(nc, 16<<10), timeout: timeout}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	line, err := c.readLine()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(line, "* OK") {
		nc.Close()
		return nil, fmt.Errorf("greeting: %q", line)
	}
	return c, nil
}

// close closes the connection without LOGOUT.
func (c *imapClient) close() error { return c.nc.Close() }

// logout sends LOGOUT and closes.
func (c *imapClient) logout() error {
	_, err := c.run("LOGOUT", nil)
	return errors.Join(err, c.nc.Close())
}

// login logs in and selects INBOX.
func (c *imapClient) loginSelect(user, pass string) error {
	if _, err := c.run(fmt.Sprintf("LOGIN %s %s", quote(user), quote(pass)), nil); err != nil {
		return err
	}
	_, err := c.run("SELECT INBOX", nil)
	return err
}

// quote makes s an IMAP quoted string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// run sends one command and reads its reply up to the tagged completion,
// which must be OK. With literal set, the command line must end in {n}: the
// literal follows the server's continuation request. It returns the bytes
// of the reply read (literals included).
func (c *imapClient) run(cmd string, literal []byte) (int, error) {
	c.tag++
	tag := "a" + strconv.Itoa(c.tag)
	_ = c.nc.SetDeadline(time.Now().Add(c.timeout))
	if _, err := fmt.Fprintf(c.bw, "%s %s\r\n", tag, cmd); err != nil {
		return 0, fmt.Errorf("%s: %w", verb(cmd), err)
	}
	if err := c.bw.Flush(); err != nil {
		return 0, fmt.Errorf("%s: %w", verb(cmd), err)
	}
	read := 0
	sentLiteral := literal == nil
	for range maxReplyLines {
		line, err := c.readLine()
		if err != nil {
			return read, fmt.Errorf("%s: %w", verb(cmd), err)
		}
		read += len(line) + 2
		if n, ok := imapresp.LiteralSize(line); ok {
			if n > maxLiteralBytes {
				return read, fmt.Errorf("%s: literal of %d bytes", verb(cmd), n)
			}
			if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
				return read, fmt.Errorf("%s: literal: %w", verb(cmd), err)
			}
			read += int(n)
			// The rest of the response follows the literal; it is read
			// as the next line, which completes this one.
			continue
		}
		switch {
		case strings.HasPrefix(line, "+"):
			if sentLiteral {
				return read, fmt.Errorf("%s: unexpected continuation %q", verb(cmd), line)
			}
			c.bw.Write(literal)
			c.bw.WriteString("\r\n")
			if err := c.bw.Flush(); err != nil {
				return read, fmt.Errorf("%s: literal: %w", verb(cmd), err)
			}
			sentLiteral = true
		case strings.HasPrefix(line, "* "):
			c.untagged(line)
		case strings.HasPrefix(line, tag+" "):
			status := line[len(tag)+1:]
			if !strings.HasPrefix(status, "OK") {
				return read, fmt.Errorf("%s: %s", verb(cmd), status)
			}
			return read, nil
		}
	}
	return read, fmt.Errorf("%s: reply longer than %d lines", verb(cmd), maxReplyLines)
}

// untagged notes message counts from "* N EXISTS" and "* N EXPUNGE".
func (c *imapClient) untagged(line string) {
	f := strings.Fields(line)
	if len(f) < 3 {
		return
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return
	}
	switch strings.ToUpper(f[2]) {
	case "EXISTS":
		c.exists = n
	case "EXPUNGE":
		c.exists--
	}
}

// readLine reads one CRLF-terminated line without the CRLF.
func (c *imapClient) readLine() (string, error) {
	var b []byte
	for {
		chunk, err := c.br.ReadSlice('\n')
		b = append(b, chunk...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
		if len(b) > maxLineBytes {
			return "", fmt.Errorf("line longer than %d bytes", maxLineBytes)
		}
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// verb is the first word of a command, for error messages.
func verb(cmd string) string {
	v, _, _ := strings.Cut(cmd, " ")
	return v
}
