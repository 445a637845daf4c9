package imaptest

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Client is a Conn for tests: its methods fail the test on error, a
// response that does not come within Timeout fails too, and Run plays
// transcripts. The connection is closed when the test ends. Send, Write,
// StartTLS, Login and Append stand in for the Conn's methods of the same
// name, which return errors (c.Conn.Append for a test that expects one).
type Client struct {
	*Conn
	t testing.TB
	// Greeting is the server's first line.
	Greeting string
}

// DefaultTimeout is a Client's Timeout: generous, as the machine running
// the tests may be busy.
const DefaultTimeout = 15 * time.Second

// DialT connects to addr as o says (o.Timeout 0: DefaultTimeout) and
// reads the greeting, whatever it is (a test may expect a BYE).
func DialT(t testing.TB, addr string, o DialOptions) *Client {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	c, g, err := dial(context.Background(), addr, o)
	if err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &Client{Conn: c, t: t, Greeting: g}
}

// StartTLS upgrades the connection after the server's OK to STARTTLS.
func (c *Client) StartTLS(cfg *tls.Config) {
	c.t.Helper()
	if err := c.Conn.StartTLS(cfg); err != nil {
		c.t.Fatalf("imaptest: %v", err)
	}
}

// Compress turns on DEFLATE after the server's OK to COMPRESS DEFLATE
// (Conn.Compress).
func (c *Client) Compress() {
	c.t.Helper()
	if err := c.Conn.Compress(); err != nil {
		c.t.Fatalf("imaptest: %v", err)
	}
}

// CompressPartialFlush is Compress with partial flushes
// (Conn.CompressPartialFlush).
func (c *Client) CompressPartialFlush() {
	c.t.Helper()
	if err := c.Conn.CompressPartialFlush(); err != nil {
		c.t.Fatalf("imaptest: %v", err)
	}
}

// Send writes one command line; CRLF is added.
func (c *Client) Send(line string) {
	c.t.Helper()
	if err := c.Conn.Send(line); err != nil {
		c.t.Fatalf("imaptest: %v", err)
	}
}

// Write writes raw bytes.
func (c *Client) Write(s string) {
	c.t.Helper()
	if err := c.Conn.Write(s); err != nil {
		c.t.Fatalf("imaptest: %v", err)
	}
}

// ReadLine reads one response without its CRLF. A literal ("{n}" at the
// end of a line) is read with the rest of the response, so that the
// returned string holds a whole response with CRLFs inside.
func (c *Client) ReadLine() string {
	c.t.Helper()
	s, err := c.ReadResponse()
	if err != nil {
		c.t.Fatalf("imaptest: read: %v (partial %q)", err, s)
	}
	return s
}

// Cmd sends a command line ("tag NAME args") and returns every response
// up to and including the tagged one.
func (c *Client) Cmd(line string) []string {
	c.t.Helper()
	tag, _, _ := strings.Cut(line, " ")
	c.Send(line)
	return c.ReadUntilTagged(tag)
}

// ReadUntilTagged reads responses until one starts with tag.
func (c *Client) ReadUntilTagged(tag string) []string {
	c.t.Helper()
	var lines []string
	for {
		l := c.ReadLine()
		lines = append(lines, l)
		if strings.HasPrefix(l, tag+" ") {
			return lines
		}
	}
}

// Do sends command with a new tag (NextTag) and returns every response
// up to and including the tagged one, and the tagged status.
func (c *Client) Do(command string) (lines []string, status string) {
	c.t.Helper()
	tag := c.NextTag()
	lines = c.Cmd(tag + " " + command)
	return lines, strings.TrimPrefix(lines[len(lines)-1], tag+" ")
}

// MustOK is Do for a command whose status must be OK.
func (c *Client) MustOK(command string) []string {
	c.t.Helper()
	lines, status := c.Do(command)
	if !IsOK(status) {
		c.t.Fatalf("imaptest: %s: %s\n%s", Verb(command), status, strings.Join(lines, "\n"))
	}
	return lines
}

// Login logs in as user, failing the test unless the server says OK.
func (c *Client) Login(user, password string) {
	c.t.Helper()
	c.MustOK("LOGIN " + Quote(user) + " " + Quote(password))
}

// Append APPENDs msg to mailbox with a synchronising literal and returns
// the tagged status.
func (c *Client) Append(mailbox, msg string) string {
	c.t.Helper()
	st, err := c.Conn.Append(mailbox, []byte(msg))
	if err != nil {
		c.t.Fatalf("imaptest: %v", err)
	}
	return st
}

// WaitFor reads responses until one matches the regular expression re,
// and returns it.
func (c *Client) WaitFor(re string) string {
	c.t.Helper()
	rx := regexp.MustCompile(re)
	for {
		if l := c.ReadLine(); rx.MatchString(l) {
			return l
		}
	}
}

// ExpectNothing checks that the server sends nothing within d.
func (c *Client) ExpectNothing(d time.Duration) {
	c.t.Helper()
	c.NetConn().SetReadDeadline(time.Now().Add(d))
	_, err := c.Reader().Peek(1)
	if err == nil {
		line, _ := c.Reader().ReadString('\n')
		c.t.Fatalf("imaptest: expected silence, got %q", line)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("imaptest: expected silence, got error %v", err)
	}
}

// ExpectClosed checks that the server closes the connection (after
// whatever responses it sends first, which are returned).
func (c *Client) ExpectClosed() []string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.ReadResponse()
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return lines
		}
		if err != nil {
			c.t.Fatalf("imaptest: expected close, got %v", err)
		}
		lines = append(lines, l)
	}
}

// isReset reports a connection reset by the server (a close with unread
// input), which counts as closed.
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
