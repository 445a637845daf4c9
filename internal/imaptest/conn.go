// Package imaptest is Dormouse's raw IMAP client, shared by the tests
// (Client, which fails the test on error and plays transcripts), the
// torture tool and the bench tools (Conn, which returns errors). It sends
// command lines as given and hands back responses as the server wrote
// them, literals included (internal/imapresp frames them), so that a
// caller checks the bytes on the wire rather than a parsed model of them.
package imaptest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	kflate "github.com/klauspost/compress/flate"

	"github.com/dormouse/dormouse/internal/imapresp"
)

// Conn is one raw IMAP connection. Its methods are not safe for
// concurrent use, except that one goroutine may read (ReadResponse) while
// another writes (Write, Send) when Timeout is 0.
type Conn struct {
	nc net.Conn
	br *bufio.Reader
	// Timeout bounds each operation: a command's whole exchange, or one
	// ReadResponse or Write. 0 leaves the deadlines to the caller.
	Timeout time.Duration
	// Keep bounds what ReadResponse keeps of one response
	// (imapresp.ReadBounded); 0 keeps all of it.
	Keep int
	// TagPrefix starts the tags Command makes ("t" unless set).
	TagPrefix string
	tag       int
	bytesRead int64
}

// DialOptions says how Dial connects.
type DialOptions struct {
	// From is the local address to dial from (such as "127.0.0.2"), so
	// that the server sees another client address; "" for any.
	From string
	// TLS, when set, makes the connection implicit TLS (RFC 8314).
	TLS *tls.Config
	// Timeout bounds the dial, the handshake and the greeting, and
	// becomes the Conn's Timeout.
	Timeout time.Duration
	// ReadBuffer is the size of the read buffer; 0 for bufio's default.
	ReadBuffer int
}

// Dial connects to addr as o says and reads the greeting, which it
// returns; a greeting other than "* OK" or "* PREAUTH" is an error.
func Dial(ctx context.Context, addr string, o DialOptions) (*Conn, string, error) {
	c, g, err := dial(ctx, addr, o)
	if err == nil && !strings.HasPrefix(g, "* OK") && !strings.HasPrefix(g, "* PREAUTH") {
		c.Close()
		return nil, g, fmt.Errorf("greeting from %s: %q", addr, g)
	}
	return c, g, err
}

// dial is Dial taking any greeting.
func dial(ctx context.Context, addr string, o DialOptions) (*Conn, string, error) {
	d := net.Dialer{Timeout: o.Timeout}
	if o.From != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.From)}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("dial %s: %w", addr, err)
	}
	if o.TLS != nil {
		tc := tls.Client(nc, o.TLS)
		setDeadline(nc, o.Timeout)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, "", fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	c := New(nc, o.ReadBuffer)
	c.Timeout = o.Timeout
	g, err := c.ReadResponse()
	if err != nil {
		nc.Close()
		return nil, g, fmt.Errorf("greeting from %s: %w", addr, err)
	}
	return c, g, nil
}

// New wraps a connection whose greeting is read by the caller, with a
// read buffer of readBuffer bytes (0: bufio's default).
func New(nc net.Conn, readBuffer int) *Conn {
	if readBuffer <= 0 {
		readBuffer = 4096
	}
	return &Conn{nc: nc, br: bufio.NewReaderSize(nc, readBuffer)}
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Reader returns the buffered reader over the connection, for a caller
// that peeks at what the server sent.
func (c *Conn) Reader() *bufio.Reader { return c.br }

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

func setDeadline(nc net.Conn, d time.Duration) {
	if d > 0 {
		nc.SetDeadline(time.Now().Add(d))
	}
}

// StartTLS runs the TLS handshake on the connection, after the server's
// OK to STARTTLS; from then on the Conn speaks TLS.
func (c *Conn) StartTLS(cfg *tls.Config) error {
	tc := tls.Client(c.nc, cfg)
	setDeadline(tc, c.Timeout)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	c.nc = tc
	c.br = bufio.NewReaderSize(tc, c.br.Size())
	return nil
}

// Compress turns on DEFLATE (RFC 4978) after the server's OK to COMPRESS
// DEFLATE: from then on the Conn compresses what it writes, with a sync
// flush after each write, and inflates what it reads. It uses Go's
// compress/flate, an implementation other than the server's. A read
// that times out breaks the inflater (its errors stick), so a
// compressed Conn must not be used with ExpectNothing.
func (c *Conn) Compress() error {
	return c.compress(false)
}

// CompressStateless is Compress with each write compressed on its own
// (klauspost/compress's StatelessDeflate, sync-flushed), without the
// ~1.2 MB compressor compress/flate keeps per connection: for bench
// tools holding thousands of connections.
func (c *Conn) CompressStateless() error {
	return c.compress(true)
}

func (c *Conn) compress(stateless bool) error {
	var in []byte
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		in = bytes.Clone(b)
	}
	zr := flate.NewReader(io.MultiReader(bytes.NewReader(in), c.nc))
	d := &deflateConn{Conn: c.nc, zr: zr, stateless: stateless}
	if !stateless {
		var err error
		d.zw, err = flate.NewWriter(&d.out, flate.DefaultCompression)
		if err != nil {
			return fmt.Errorf("compress: %w", err)
		}
	}
	c.nc = d
	c.br = bufio.NewReaderSize(c.nc, c.br.Size())
	return nil
}

// CompressPartialFlush is Compress with each write ended by a partial
// flush, as zlib's Z_PARTIAL_FLUSH ends it (isync's mbsync): the last
// bits of each write wait for the next one (partialFlusher).
func (c *Conn) CompressPartialFlush() error {
	if err := c.Compress(); err != nil {
		return err
	}
	c.nc.(*deflateConn).partial = &partialFlusher{}
	return nil
}

// deflateConn is a connection after COMPRESS DEFLATE.
type deflateConn struct {
	net.Conn
	zr  io.ReadCloser
	zw  *flate.Writer
	out bytes.Buffer // zw's output, written to the socket at once
	// partial, when set, compresses instead of zw, ending each write
	// with a partial flush (CompressPartialFlush).
	partial *partialFlusher
	// stateless compresses each write on its own instead of with zw
	// (CompressStateless).
	stateless bool
}

func (d *deflateConn) Read(p []byte) (int, error) { return d.zr.Read(p) }

// Write compresses p and sync-flushes it, so the server can read it all
// at once, in one write to the socket (one TLS record, as most clients
// send a command).
func (d *deflateConn) Write(p []byte) (int, error) {
	if d.partial != nil {
		if _, err := d.Conn.Write(d.partial.compress(p)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	d.out.Reset()
	if d.stateless {
		if err := kflate.StatelessDeflate(&d.out, p, false, nil); err != nil {
			return 0, err
		}
	} else {
		if _, err := d.zw.Write(p); err != nil {
			return 0, err
		}
		if err := d.zw.Flush(); err != nil {
			return 0, err
		}
	}
	if _, err := d.Conn.Write(d.out.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Write writes s as it is.
func (c *Conn) Write(s string) error {
	if c.Timeout > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(c.Timeout))
	}
	if _, err := c.nc.Write([]byte(s)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Send writes one line; CRLF is added.
func (c *Conn) Send(line string) error {
	if err := c.Write(line + "\r\n"); err != nil {
		return fmt.Errorf("send %s: %w", Verb(line), err)
	}
	return nil
}

// ReadResponse reads one whole response (literals included, see
// imapresp.Read) without its final CRLF.
func (c *Conn) ReadResponse() (string, error) {
	if c.Timeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.Timeout))
	}
	return c.read()
}

func (c *Conn) read() (string, error) {
	s, n, err := imapresp.ReadBounded(c.br, c.Keep)
	c.bytesRead += n
	return s, err
}

// BytesRead is how many bytes the Conn has read from the server.
func (c *Conn) BytesRead() int64 { return c.bytesRead }

// NextTag returns a new tag: TagPrefix and a counter.
func (c *Conn) NextTag() string {
	c.tag++
	p := c.TagPrefix
	if p == "" {
		p = "t"
	}
	return p + strconv.Itoa(c.tag)
}

// ErrBye is an untagged BYE in place of a command's tagged response.
var ErrBye = errors.New("server said BYE")

// Command sends "tag cmd" with a new tag and reads to the tagged
// response, passing each untagged response (and continuation) to each
// (nil: dropped). It returns the tagged status ("OK ...", "NO ...",
// "BAD ..."); a BYE not followed by the tagged response (ErrBye, with the
// BYE's text) or a read error is an error.
func (c *Conn) Command(cmd string, each func(string)) (string, error) {
	tag := c.NextTag()
	setDeadline(c.nc, c.Timeout)
	if err := c.Send(tag + " " + cmd); err != nil {
		return "", err
	}
	return c.ReadTagged(tag, each)
}

// Run is Command collecting the untagged responses.
func (c *Conn) Run(cmd string) (untagged []string, status string, err error) {
	status, err = c.Command(cmd, func(r string) { untagged = append(untagged, r) })
	return untagged, status, err
}

// ReadTagged reads responses until the one tagged tag and returns its
// status, as Command does; it sets no deadline of its own.
func (c *Conn) ReadTagged(tag string, each func(string)) (string, error) {
	bye := ""
	for {
		r, err := c.read()
		if err != nil && bye != "" {
			return "", fmt.Errorf("%w: %s", ErrBye, bye)
		}
		if err != nil {
			return "", fmt.Errorf("read: %w", err)
		}
		if rest, ok := strings.CutPrefix(r, tag+" "); ok {
			return rest, nil // after a BYE too: LOGOUT's answer
		}
		if strings.HasPrefix(r, "* BYE") {
			bye = r // an error unless the tagged response follows
			continue
		}
		if each != nil {
			each(r)
		}
	}
}

// Login logs in with LOGIN; a status other than OK is an error.
func (c *Conn) Login(user, password string) error {
	st, err := c.Command("LOGIN "+Quote(user)+" "+Quote(password), nil)
	if err == nil && !IsOK(st) {
		err = fmt.Errorf("LOGIN %s: %s", user, st)
	}
	return err
}

// Append APPENDs msg to mailbox with a synchronising literal and returns
// the tagged status (the server may refuse before the literal).
func (c *Conn) Append(mailbox string, msg []byte) (string, error) {
	return c.CommandLiteral(fmt.Sprintf("APPEND %s {%d}", Quote(mailbox), len(msg)), msg, nil)
}

// CommandLiteral is Command for a command line ending in a synchronising
// literal's "{n}": literal is sent after the server's continuation, and
// the command's status returned (also when the server refuses it before
// the literal).
func (c *Conn) CommandLiteral(cmd string, literal []byte, each func(string)) (string, error) {
	tag := c.NextTag()
	setDeadline(c.nc, c.Timeout)
	if err := c.Send(tag + " " + cmd); err != nil {
		return "", err
	}
	for {
		r, err := c.read()
		if err != nil {
			return "", fmt.Errorf("%s: %w", Verb(cmd), err)
		}
		if rest, ok := strings.CutPrefix(r, tag+" "); ok {
			return rest, nil
		}
		if strings.HasPrefix(r, "+") {
			break
		}
		if each != nil {
			each(r)
		}
	}
	_, err := c.nc.Write(append(literal[:len(literal):len(literal)], "\r\n"...))
	if err != nil {
		// The server may have answered and closed while the literal was
		// being sent: its answer (tagged or BYE) says more than the
		// broken pipe.
		c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if st, rerr := c.ReadTagged(tag, each); rerr == nil || errors.Is(rerr, ErrBye) {
			return st, rerr
		}
		return "", fmt.Errorf("%s literal: %w", Verb(cmd), err)
	}
	return c.ReadTagged(tag, each)
}

// Quote makes s an IMAP quoted string.
func Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// IsOK reports whether a tagged status is OK.
func IsOK(status string) bool { return strings.HasPrefix(status, "OK") }

// Verb is a command line's name for errors, never its arguments (which
// may hold a password): "LOGIN", or "UID FETCH" after a tag or "UID".
func Verb(line string) string {
	f := strings.Fields(line)
	i := 0
	if len(f) > 1 && !isCommandName(f[0]) {
		i = 1 // a tag
	}
	if i >= len(f) {
		return ""
	}
	if strings.EqualFold(f[i], "UID") && i+1 < len(f) {
		return f[i] + " " + f[i+1]
	}
	return f[i]
}

// isCommandName reports whether w could be a command name rather than a
// tag: letters only, all of one case.
func isCommandName(w string) bool {
	for _, r := range w {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return strings.ToUpper(w) == w
}
