package testserver

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/imapresp"
)

// Client is a raw IMAP client for transcript tests. Its methods fail the
// test on error; a response that does not come within Timeout fails too.
type Client struct {
	t       testing.TB
	conn    net.Conn
	br      *bufio.Reader
	Timeout time.Duration
	// Greeting is the server's first line.
	Greeting string
}

// Dial connects to the server and reads its greeting. The connection is
// closed when the test ends.
func (s *Server) Dial(t testing.TB) *Client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatalf("testserver: dial: %v", err)
	}
	return newClient(t, nc)
}

// DialFrom connects from the loopback address ip (such as "127.0.0.2"),
// so that the server sees another client address, and reads the greeting.
func (s *Server) DialFrom(t testing.TB, ip string) *Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatalf("testserver: dial from %s: %v", ip, err)
	}
	return newClient(t, nc)
}

// DialTLS connects with implicit TLS (a server started WithTLS(true)).
func (s *Server) DialTLS(t testing.TB) *Client {
	t.Helper()
	nc, err := tls.Dial("tcp", s.Addr, s.TLS)
	if err != nil {
		t.Fatalf("testserver: dial tls: %v", err)
	}
	return newClient(t, nc)
}

func newClient(t testing.TB, nc net.Conn) *Client {
	c := &Client{t: t, conn: nc, br: bufio.NewReader(nc), Timeout: 10 * time.Second}
	t.Cleanup(func() { nc.Close() })
	c.Greeting = c.ReadLine()
	return c
}

// Login dials and logs in as u, reading the tagged OK.
func (s *Server) Login(t testing.TB, u User) *Client {
	t.Helper()
	c := s.Dial(t)
	lines := c.Cmd("L0 LOGIN " + u.Name + " " + strconv.Quote(u.Password))
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "L0 OK") {
		t.Fatalf("testserver: login %s: %s", u.Name, last)
	}
	return c
}

// Conn returns the underlying connection.
func (c *Client) Conn() net.Conn { return c.conn }

// StartTLS upgrades the connection after the server's OK to STARTTLS.
func (c *Client) StartTLS(cfg *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(c.Timeout))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("testserver: tls handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	c.conn = tc
	c.br = bufio.NewReader(tc)
}

// Send writes one command line; CRLF is added.
func (c *Client) Send(line string) {
	c.t.Helper()
	c.Write(line + "\r\n")
}

// Write writes raw bytes.
func (c *Client) Write(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("testserver: write: %v", err)
	}
}

// ReadLine reads one response line without its CRLF. A literal ("{n}" at
// the end of a line) is read with the rest of the response, so that the
// returned string holds a whole response with CRLFs inside.
func (c *Client) ReadLine() string {
	c.t.Helper()
	s, err := c.readLine()
	if err != nil {
		c.t.Fatalf("testserver: read: %v", err)
	}
	return s
}

func (c *Client) readLine() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	return imapresp.Read(c.br)
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

// Expect reads one response per pattern and checks it (see Run for the
// pattern forms).
func (c *Client) Expect(patterns ...string) {
	c.t.Helper()
	for _, p := range patterns {
		got := c.ReadLine()
		if err := match(p, got); err != nil {
			c.t.Fatalf("testserver: %v", err)
		}
	}
}

// ExpectNothing checks that the server sends nothing within d.
func (c *Client) ExpectNothing(d time.Duration) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	_, err := c.br.Peek(1)
	if err == nil {
		line, _ := c.br.ReadString('\n')
		c.t.Fatalf("testserver: expected silence, got %q", line)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("testserver: expected silence, got error %v", err)
	}
}

// ExpectClosed checks that the server closes the connection (after
// whatever lines it sends first, which are returned).
func (c *Client) ExpectClosed() []string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.readLine()
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return lines
		}
		if err != nil {
			c.t.Fatalf("testserver: expected close, got %v", err)
		}
		lines = append(lines, l)
	}
}

// isReset reports a connection reset by the server (a close with unread
// input), which counts as closed.
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// Run plays a transcript. Each non-blank line is one of:
//
//	C: text     sent to the server, CRLF added
//	S: text     the next response must equal text
//	S~ regexp   the next response must match regexp (whole response)
//	#  comment
//
// In C: and S: lines, the two characters \r\n stand for CRLF (for literals).
func (c *Client) Run(script string) {
	c.t.Helper()
	for _, raw := range strings.Split(script, "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "C: "):
			c.Write(crlf(line[3:]) + "\r\n")
		case strings.HasPrefix(line, "S: "), strings.HasPrefix(line, "S~ "):
			got := c.ReadLine()
			if err := match(line, got); err != nil {
				c.t.Fatalf("testserver: %v", err)
			}
		default:
			c.t.Fatalf("testserver: bad transcript line %q", line)
		}
	}
}

func crlf(s string) string { return strings.ReplaceAll(s, `\r\n`, "\r\n") }

// match checks got against "S: exact", "S~ regexp", or a bare exact text.
func match(pattern, got string) error {
	switch {
	case strings.HasPrefix(pattern, "S~ "):
		re, err := regexp.Compile(`^(?s:` + pattern[3:] + `)$`)
		if err != nil {
			return fmt.Errorf("bad pattern %q: %v", pattern, err)
		}
		if !re.MatchString(got) {
			return fmt.Errorf("\n got: %q\nwant: /%s/", got, pattern[3:])
		}
	default:
		want := crlf(strings.TrimPrefix(pattern, "S: "))
		if got != want {
			return fmt.Errorf("\n got: %q\nwant: %q", got, want)
		}
	}
	return nil
}
