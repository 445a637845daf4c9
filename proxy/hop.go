package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// maxBlob bounds a state blob a backend hands over (the handover bound).
const maxBlob = 32 << 10

// hopTag is the tag of the proxy's own commands on a hop; the client
// never sees their answers.
const hopTag = "X1"

// errUnavailable says the backend could not be reached or did not
// answer: the client is told NO or BYE [UNAVAILABLE].
var errUnavailable = errors.New("backend unavailable")

// refusedError is a backend's tagged NO or BAD to XPROXY or XRESUME.
type refusedError struct{ line string }

func (e *refusedError) Error() string { return "backend refused: " + e.line }

// byeText is what the client is told in its BYE: the text of the
// backend's NO after its response code, the words a sleeper woken there
// would have said.
func (e *refusedError) byeText() string {
	s := e.line
	if _, rest, ok := strings.Cut(s, "] "); ok {
		return rest
	}
	if _, rest, ok := strings.Cut(s, " "); ok {
		return rest
	}
	return s
}

// hop is the plain connection to a backend carrying one client's session.
type hop struct {
	addr string
	nc   net.Conn
	r    *bufio.Reader
	// written counts every byte written to the backend; sent keeps the
	// last of them (at most 2*maxResend), for the tail a handover did
	// not read ("* XSLEEP <read> {n}").
	written int64
	sent    []byte
}

// write sends p to the backend, counting it and keeping its tail.
func (h *hop) write(p []byte) error {
	if len(h.sent)+len(p) > 2*maxResend {
		keep := max(0, maxResend-len(p))
		h.sent = append(h.sent[:0], h.sent[max(0, len(h.sent)-keep):]...)
	}
	if len(p) > maxResend {
		h.sent = append(h.sent[:0], p[len(p)-maxResend:]...)
	} else {
		h.sent = append(h.sent, p...)
	}
	h.written += int64(len(p))
	h.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := h.nc.Write(p); err != nil {
		return fmt.Errorf("%w: %w", errHopWrite, err)
	}
	return nil
}

// unread returns what the backend did not read of what was written, it
// having read read bytes; ok false when that is not kept any more.
func (h *hop) unread(read int64) ([]byte, bool) {
	n := h.written - read
	if n < 0 || n > int64(len(h.sent)) {
		return nil, false
	}
	return h.sent[int64(len(h.sent))-n:], true
}

// dialHop connects to the backend at addr and reads its greeting, within
// timeout.
func dialHop(ctx context.Context, addr string, timeout time.Duration) (*hop, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: dial %s: %w", errUnavailable, addr, err)
	}
	h := &hop{addr: addr, nc: nc, r: bufio.NewReaderSize(nc, 4096)}
	nc.SetDeadline(time.Now().Add(timeout))
	line, err := h.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "* OK") {
		nc.Close()
		return nil, fmt.Errorf("%w: %s greeting %q: %v", errUnavailable, addr, line, err)
	}
	return h, nil
}

// command sends the proxy's own command (text after the tag, with its
// CRLF) and reads up to its tagged answer within timeout, giving the
// untagged lines before it to untagged. What the backend says after the
// tagged answer stays buffered for the relay.
func (h *hop) command(text []byte, timeout time.Duration, untagged func(line string)) (string, error) {
	h.nc.SetDeadline(time.Now().Add(timeout))
	defer h.nc.SetDeadline(time.Time{})
	msg := append([]byte(hopTag+" "), text...)
	if err := h.write(msg); err != nil {
		return "", fmt.Errorf("%w: %s: %w", errUnavailable, h.addr, err)
	}
	for {
		line, err := h.r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("%w: %s: %w", errUnavailable, h.addr, err)
		}
		if len(line) > maxHopLine {
			return "", fmt.Errorf("%w: %s: answer too long", errUnavailable, h.addr)
		}
		if rest, ok := strings.CutPrefix(line, hopTag+" "); ok {
			rest = strings.TrimRight(rest, "\r\n")
			if strings.HasPrefix(rest, "OK") {
				return rest, nil
			}
			return "", &refusedError{line: rest}
		}
		if untagged != nil {
			untagged(strings.TrimRight(line, "\r\n"))
		}
	}
}

// maxHopLine bounds an answer line the proxy reads for itself.
const maxHopLine = 64 << 10

// quote is s as an IMAP quoted string (or a literal+ when it cannot be
// quoted).
func quote(s string) string {
	if strings.ContainsAny(s, "\r\n\x00") || !isText(s) {
		return "{" + strconv.Itoa(len(s)) + "+}\r\n" + s
	}
	return strconv.Quote(s)
}

// isText reports whether s may go in a quoted string as strconv.Quote
// writes it: printable ASCII, so that Go's escapes are IMAP's (\" and \\).
func isText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// xproxy logs the hop in as user (XPROXY) and returns the backend's
// capabilities as the logged-in client would be told them.
func (h *hop) xproxy(secret, user, client string, timeout time.Duration) (string, error) {
	ok, err := h.command([]byte("XPROXY "+quote(secret)+" "+quote(user)+" "+quote(client)+"\r\n"), timeout, nil)
	if err != nil {
		return "", err
	}
	if caps, ok := capabilityCode(ok); ok {
		return caps, nil
	}
	var caps string
	h.nc.SetDeadline(time.Now().Add(timeout))
	if _, err := h.command([]byte("CAPABILITY\r\n"), timeout, func(line string) {
		if c, ok := strings.CutPrefix(line, "* CAPABILITY "); ok {
			caps = c
		}
	}); err != nil {
		return "", err
	}
	if caps == "" {
		return "", fmt.Errorf("%w: %s: no CAPABILITY", errUnavailable, h.addr)
	}
	return caps, nil
}

// capabilityCode returns the list of an "OK [CAPABILITY ...]" answer.
func capabilityCode(ok string) (string, bool) {
	rest, found := strings.CutPrefix(ok, "OK [CAPABILITY ")
	if !found {
		return "", false
	}
	caps, _, found := strings.Cut(rest, "]")
	return caps, found
}

// xresume restores a session from blob on the hop (XRESUME). The
// backend's answer is read; what it says after it (an IDLE's updates)
// stays buffered for the relay.
func (h *hop) xresume(secret, client string, blob []byte, timeout time.Duration) error {
	var b bytes.Buffer
	b.WriteString("XRESUME " + quote(secret) + " " + quote(client) + " {" + strconv.Itoa(len(blob)) + "+}\r\n")
	b.Write(blob)
	b.WriteString("\r\n")
	_, err := h.command(b.Bytes(), timeout, nil)
	return err
}

// handover is a backend's "* XSLEEP <read> {n}": the session's blob,
// how many bytes the backend read from the hop, and (once the client
// direction has stopped writing to the hop, relayOnce) what it did not
// read of what the proxy wrote.
type handover struct {
	blob   []byte
	read   int64
	unread []byte
}

// readSleep reads the handover whose first line is line.
func (h *hop) readSleep(line []byte) (*handover, error) {
	n, _, ok := literal(line)
	fields := bytes.Fields(line)
	var read int64 = -1
	if len(fields) == 4 {
		read, _ = strconv.ParseInt(string(fields[2]), 10, 64)
	}
	if !ok || n > maxBlob || read < 0 {
		return nil, fmt.Errorf("proxy: bad XSLEEP from %s: %q", h.addr, line)
	}
	blob := make([]byte, n)
	if _, err := io.ReadFull(h.r, blob); err != nil {
		return nil, fmt.Errorf("proxy: XSLEEP blob from %s: %w", h.addr, err)
	}
	h.r.ReadString('\n') // the line's end after the literal
	return &handover{blob: blob, read: read}, nil
}

// isSleep reports whether a backend's response line is "* XSLEEP <read> {n}".
func isSleep(line []byte) bool {
	return bytes.HasPrefix(line, []byte("* XSLEEP "))
}
