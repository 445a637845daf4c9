//go:build unix

// Package handover is the wire between a running dormouse and the one that
// replaces it in an upgrade (docs/design.md, "Upgrade: handing over"): a
// SOCK_SEQPACKET UNIX socket on which each packet is one message, a kind
// byte and its payload, with at most one descriptor riding along
// (SCM_RIGHTS). SEQPACKET keeps message boundaries and the descriptor
// with its message, so no length prefix is trusted and no descriptor can
// slip to a neighbouring message.
//
// The conversation, in order:
//
//	new → old  Hello     payload helloText
//	old → new  Listener  one listening socket, payload its name (imap, imaps, lmtp, metrics); repeated
//	old → new  Listeners no payload: every listener was sent
//	new → old  Ready     the new process serves the listeners: the old one stops accepting
//	old → new  Sleeper   one connected socket, payload its state blob; repeated
//	old → new  End       payload the old process's counts (JSON, Summary)
//
// Receive checks every message against its kind before the caller sees
// it: a known kind, a descriptor exactly where one belongs and of the
// right sort (a listening or a connected stream socket), a payload within
// the kind's bound; whatever fails is closed and reported, so hostile or
// broken input costs no descriptor.
package handover

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Kind is the first byte of a message.
type Kind byte

// The messages, see the package comment.
const (
	Hello     Kind = 'H'
	Listener  Kind = 'L'
	Listeners Kind = 'l'
	Ready     Kind = 'R'
	Sleeper   Kind = 'S'
	End       Kind = 'E'
)

// helloText is the payload of Hello: a new process of another protocol
// version is refused before anything is handed over.
const helloText = "dormouse-handover 1"

// MaxPayload bounds a message's payload: a state blob is at most
// hibernate.MaxBlob (32 KiB); nothing else comes near.
const MaxPayload = 64 << 10

// kinds says, per kind, whether a descriptor comes with it (and of what
// sort) and how long its payload may be.
var kinds = map[Kind]struct {
	fd         fdSort
	maxPayload int
}{
	Hello:     {fdNone, len(helloText)},
	Listener:  {fdListening, 16},
	Listeners: {fdNone, 0},
	Ready:     {fdNone, 0},
	Sleeper:   {fdConnected, MaxPayload},
	End:       {fdNone, 4 << 10},
}

type fdSort uint8

const (
	fdNone      fdSort = iota
	fdListening        // a listening stream socket
	fdConnected        // a connected stream socket
)

// Message is one message; FD is -1 when none comes with it. A received
// descriptor is the receiver's to close.
type Message struct {
	Kind    Kind
	FD      int
	Payload []byte
}

// Summary is what the old process reports at the end: how many
// connections moved, and how many it could not move, by reason.
type Summary struct {
	Moved    int            `json:"moved"`
	NotMoved map[string]int `json:"not_moved,omitempty"`
}

// Conn is one end of a handover conversation.
type Conn struct {
	c   *net.UnixConn
	buf []byte
	oob []byte
}

// Timeout bounds each message's send and receive: both ends are local
// processes, so a peer that stalls this long is stuck.
const Timeout = 30 * time.Second

// Listen opens the handover socket at path, mode 0600 (only the server's
// own user and root may take its connections over).
func Listen(path string) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("handover socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("handover socket: %w", err)
	}
	return ln, nil
}

// Dial connects to the handover socket at path and says Hello.
func Dial(path string) (*Conn, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("handover: %w", err)
	}
	hc := NewConn(c)
	if err := hc.Send(Message{Kind: Hello, FD: -1, Payload: []byte(helloText)}); err != nil {
		hc.Close()
		return nil, err
	}
	return hc, nil
}

// NewConn wraps an accepted handover connection.
func NewConn(c *net.UnixConn) *Conn {
	return &Conn{
		c:   c,
		buf: make([]byte, 1+MaxPayload+1), // +1: a longer packet shows as such
		oob: make([]byte, unix.CmsgSpace(4*4)),
	}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// Send sends m; m.FD (when not -1) stays the caller's, the peer gets its
// own copy.
func (c *Conn) Send(m Message) error {
	k, ok := kinds[m.Kind]
	if !ok || len(m.Payload) > k.maxPayload || (k.fd == fdNone) != (m.FD < 0) {
		return fmt.Errorf("handover: send %q: malformed message", m.Kind)
	}
	b := make([]byte, 0, 1+len(m.Payload))
	b = append(append(b, byte(m.Kind)), m.Payload...)
	var oob []byte
	if m.FD >= 0 {
		oob = unix.UnixRights(m.FD)
	}
	c.c.SetWriteDeadline(time.Now().Add(Timeout))
	if _, _, err := c.c.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("handover: send %q: %w", m.Kind, err)
	}
	return nil
}

// SendSummary sends End with s.
func (c *Conn) SendSummary(s Summary) error {
	p, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("handover: summary: %w", err)
	}
	return c.Send(Message{Kind: End, FD: -1, Payload: p})
}

// ErrProtocol says a message broke the conversation's rules.
var ErrProtocol = errors.New("handover: protocol error")

// Receive reads the next message and checks it (see the package
// comment); the payload is the Conn's buffer, valid until the next call.
// On an error every descriptor that came with the message is closed.
// io.EOF-like ends come back as an error wrapping net.ErrClosed or EOF
// from the socket: a peer that closed is done.
func (c *Conn) Receive() (Message, error) {
	c.c.SetReadDeadline(time.Now().Add(Timeout))
	n, oobn, flags, _, err := c.c.ReadMsgUnix(c.buf, c.oob)
	fds, perr := parseRights(c.oob[:oobn])
	fail := func(format string, args ...any) (Message, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return Message{FD: -1}, fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
	}
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return Message{FD: -1}, fmt.Errorf("handover: receive: %w", err)
	}
	if n == 0 {
		// SEQPACKET: a zero-length read is the peer's close.
		return fail("end of stream")
	}
	switch {
	case perr != nil:
		return fail("control message: %v", perr)
	case flags&unix.MSG_CTRUNC != 0:
		return fail("descriptors cut short")
	case flags&unix.MSG_TRUNC != 0 || n > 1+MaxPayload:
		return fail("message longer than %d bytes", 1+MaxPayload)
	}
	m := Message{Kind: Kind(c.buf[0]), FD: -1, Payload: c.buf[1:n]}
	k, ok := kinds[m.Kind]
	switch {
	case !ok:
		return fail("unknown message kind %#x", c.buf[0])
	case len(m.Payload) > k.maxPayload:
		return fail("%q: payload of %d bytes, at most %d", m.Kind, len(m.Payload), k.maxPayload)
	case k.fd == fdNone && len(fds) > 0:
		return fail("%q: unexpected descriptor", m.Kind)
	case k.fd != fdNone && len(fds) != 1:
		return fail("%q: %d descriptors, want 1", m.Kind, len(fds))
	case m.Kind == Hello && string(m.Payload) != helloText:
		return fail("hello %q, want %q", m.Payload, helloText)
	}
	if k.fd != fdNone {
		if err := checkSocket(fds[0], k.fd); err != nil {
			return fail("%q: %v", m.Kind, err)
		}
		m.FD = fds[0]
	}
	return m, nil
}

// Expect receives the next message and fails unless it is of kind k.
func (c *Conn) Expect(k Kind) (Message, error) {
	m, err := c.Receive()
	if err != nil {
		return m, err
	}
	if m.Kind != k {
		if m.FD >= 0 {
			unix.Close(m.FD)
		}
		return Message{FD: -1}, fmt.Errorf("%w: %q, want %q", ErrProtocol, m.Kind, k)
	}
	return m, nil
}

// ParseSummary decodes End's payload.
func ParseSummary(p []byte) (Summary, error) {
	var s Summary
	if err := json.Unmarshal(p, &s); err != nil {
		return Summary{}, fmt.Errorf("%w: summary: %v", ErrProtocol, err)
	}
	if s.Moved < 0 {
		return Summary{}, fmt.Errorf("%w: summary: negative count", ErrProtocol)
	}
	for r, n := range s.NotMoved {
		if n < 0 || len(r) > 32 {
			return Summary{}, fmt.Errorf("%w: summary: bad count %q", ErrProtocol, r)
		}
	}
	return s, nil
}

// parseRights returns the descriptors in a control message, each with
// close-on-exec set (on Linux the net package receives them so already,
// MSG_CMSG_CLOEXEC; elsewhere it is set here).
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	var bad error
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			bad = err
			continue
		}
		fds = append(fds, got...)
	}
	for _, fd := range fds {
		syscall.CloseOnExec(fd)
	}
	return fds, bad
}

// checkSocket reports whether fd is a stream socket of the sort wanted.
func checkSocket(fd int, want fdSort) error {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return fmt.Errorf("descriptor is not a socket: %w", err)
	}
	if typ != unix.SOCK_STREAM {
		return fmt.Errorf("socket of type %d, want a stream", typ)
	}
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if (acc != 0) != (want == fdListening) {
		if want == fdListening {
			return errors.New("socket is not listening")
		}
		return errors.New("socket is listening, want a connection")
	}
	return nil
}
