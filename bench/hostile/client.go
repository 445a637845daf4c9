package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/dormouse/dormouse/internal/imapresp"
)

// Bounds on what the client keeps of a server response: hostile probes
// provoke responses of many megabytes, which are read and dropped.
const (
	keepLine    = 4096 // bytes of a response line kept
	keepLiteral = 4096 // literals up to this size are kept in the text
)

// imapClient is a raw IMAP client over TCP or TLS. Each command has its own
// deadline (timeout).
type imapClient struct {
	nc      net.Conn
	br      *bufio.Reader
	tag     int
	timeout time.Duration
}

// dialer returns a dialer whose connections come from the address from
// ("" = any), so that hostile clients can be told apart from well-behaved
// ones by the server's per-address limits.
func dialer(from string, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	return d
}

// dialIMAP connects, with TLS when useTLS is set, and reads the greeting.
func dialIMAP(ctx context.Context, addr, from string, useTLS bool, timeout time.Duration) (*imapClient, error) {
	nc, err := dialer(from, timeout).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if useTLS {
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true}) // the server's own self-signed certificate
		nc.SetDeadline(time.Now().Add(timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	c := &imapClient{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), timeout: timeout}
	c.nc.SetDeadline(time.Now().Add(timeout))
	g, err := c.readResp()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(g, "* OK") {
		nc.Close()
		return nil, fmt.Errorf("greeting %q", g)
	}
	return c, nil
}

// login dials and logs in; the error holds the server's answer.
func login(ctx context.Context, addr, from, user, pw string, timeout time.Duration) (*imapClient, error) {
	c, err := dialIMAP(ctx, addr, from, false, timeout)
	if err != nil {
		return nil, err
	}
	st, err := c.run("LOGIN "+quote(user)+" "+quote(pw), nil)
	if err == nil && !isOK(st) {
		err = fmt.Errorf("LOGIN: %s", st)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *imapClient) close() { c.nc.Close() }

// quote makes an IMAP quoted string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func isOK(status string) bool { return strings.HasPrefix(status, "OK") }

// readLine reads one line without its CRLF, keeping at most keepLine bytes
// of it; full reports whether it was kept whole, and tail is its last
// bytes (where a literal's "{n}" would be).
func (c *imapClient) readLine() (line string, tail string, err error) {
	var keep []byte
	var last []byte
	for {
		frag, err := c.br.ReadSlice('\n')
		if len(keep) < keepLine {
			keep = append(keep, frag[:min(len(frag), keepLine-len(keep))]...)
		}
		last = append(last, frag...)
		if len(last) > 64 {
			last = last[len(last)-64:]
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return string(keep), string(last), err
		}
		return strings.TrimRight(string(keep), "\r\n"), strings.TrimRight(string(last), "\r\n"), nil
	}
}

// readResp reads one response with its literals; small literals are kept
// in the text, large ones read and dropped.
func (c *imapClient) readResp() (string, error) {
	var b strings.Builder
	for {
		line, tail, err := c.readLine()
		if b.Len() < keepLine {
			b.WriteString(line)
		}
		if err != nil {
			return b.String(), err
		}
		n, ok := imapresp.LiteralSize(tail)
		if !ok {
			return b.String(), nil
		}
		b.WriteString("\r\n")
		if n <= keepLiteral {
			buf := make([]byte, n)
			if _, err := io.ReadFull(c.br, buf); err != nil {
				return b.String(), err
			}
			b.Write(buf)
		} else if _, err := c.br.Discard(int(n)); err != nil {
			return b.String(), err
		}
	}
}

// errBye is an untagged BYE in place of the tagged answer.
var errBye = errors.New("server said BYE")

// run sends one command and reads until its tagged answer, passing each
// untagged response to each (nil: dropped). It returns the status ("OK
// ...", "NO ...", "BAD ..."); a BYE or a closed connection is an error
// holding what the server said.
func (c *imapClient) run(cmd string, each func(string)) (string, error) {
	tag, err := c.send(cmd)
	if err != nil {
		return "", err
	}
	return c.await(tag, each)
}

// send writes "tag cmd" and returns the tag.
func (c *imapClient) send(cmd string) (string, error) {
	c.tag++
	tag := "h" + strconv.Itoa(c.tag)
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	if _, err := io.WriteString(c.nc, tag+" "+cmd+"\r\n"); err != nil {
		return tag, fmt.Errorf("send %s: %w", verb(cmd), err)
	}
	return tag, nil
}

// await reads responses until the one tagged tag.
func (c *imapClient) await(tag string, each func(string)) (string, error) {
	for {
		r, err := c.readResp()
		if err != nil {
			return "", fmt.Errorf("read: %w", err)
		}
		if rest, ok := strings.CutPrefix(r, tag+" "); ok {
			return rest, nil
		}
		if strings.HasPrefix(r, "* BYE") {
			return "", fmt.Errorf("%w: %s", errBye, r)
		}
		if each != nil {
			each(r)
		}
	}
}

// verb is a command's name, for errors (never a password).
func verb(cmd string) string {
	v, _, _ := strings.Cut(cmd, " ")
	if _, err := strconv.Atoi(v); err == nil || strings.EqualFold(v, "UID") {
		v2, _, _ := strings.Cut(strings.TrimPrefix(cmd, v+" "), " ")
		return v + " " + v2
	}
	return v
}

// appendMsg APPENDs msg to mailbox with a synchronising literal and returns
// the tagged status.
func (c *imapClient) appendMsg(mailbox string, msg []byte) (string, error) {
	tag, err := c.send(fmt.Sprintf("APPEND %s {%d}", quote(mailbox), len(msg)))
	if err != nil {
		return "", err
	}
	r, err := c.readResp()
	if err != nil {
		return "", fmt.Errorf("APPEND: %w", err)
	}
	if rest, ok := strings.CutPrefix(r, tag+" "); ok {
		return rest, nil // refused before the literal
	}
	if !strings.HasPrefix(r, "+") {
		return "", fmt.Errorf("APPEND: want a continuation, got %q", r)
	}
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	_, err = c.nc.Write(msg)
	if err == nil {
		_, err = io.WriteString(c.nc, "\r\n")
	}
	if err != nil {
		// The server may have answered and closed while the literal was
		// being sent: its answer (tagged or BYE) says more than the
		// broken pipe.
		c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if st, rerr := c.await(tag, nil); rerr == nil || errors.Is(rerr, errBye) {
			return st, rerr
		}
		return "", fmt.Errorf("APPEND literal: %w", err)
	}
	return c.await(tag, nil)
}

// exists selects mailbox and returns its message count.
func (c *imapClient) exists(mailbox string) (int, error) {
	n := -1
	st, err := c.run("SELECT "+quote(mailbox), func(r string) {
		f := strings.Fields(r)
		if len(f) == 3 && f[2] == "EXISTS" {
			n, _ = strconv.Atoi(f[1])
		}
	})
	if err == nil && !isOK(st) {
		err = fmt.Errorf("SELECT %s: %s", mailbox, st)
	}
	return n, err
}

// lmtpClient is a raw LMTP client (RFC 2033).
type lmtpClient struct {
	nc      net.Conn
	br      *bufio.Reader
	timeout time.Duration
}

func dialLMTP(ctx context.Context, addr, from string, timeout time.Duration) (*lmtpClient, error) {
	nc, err := dialer(from, timeout).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lmtp: %w", err)
	}
	l := &lmtpClient{nc: nc, br: bufio.NewReader(nc), timeout: timeout}
	nc.SetDeadline(time.Now().Add(timeout))
	if code, text, err := l.reply(); err != nil || code != 220 {
		nc.Close()
		return nil, fmt.Errorf("lmtp greeting: %d %s %v", code, text, err)
	}
	if code, text, err := l.cmd("LHLO hostile.bench"); err != nil || code != 250 {
		nc.Close()
		return nil, fmt.Errorf("LHLO: %d %s %v", code, text, err)
	}
	return l, nil
}

func (l *lmtpClient) close() { l.nc.Close() }

// reply reads one reply, all its lines.
func (l *lmtpClient) reply() (int, string, error) {
	for range 1000 {
		line, err := l.br.ReadString('\n')
		if err != nil {
			return 0, "", err
		}
		if len(line) < 4 {
			return 0, "", fmt.Errorf("short reply %q", line)
		}
		if line[3] == '-' {
			continue
		}
		code, err := strconv.Atoi(line[:3])
		return code, strings.TrimSpace(line[4:]), err
	}
	return 0, "", errors.New("reply too long")
}

func (l *lmtpClient) cmd(line string) (int, string, error) {
	l.nc.SetDeadline(time.Now().Add(l.timeout))
	if _, err := io.WriteString(l.nc, line+"\r\n"); err != nil {
		return 0, "", err
	}
	return l.reply()
}

// deliver runs one transaction and returns the reply code for each
// recipient accepted at RCPT (in order), after DATA. The message must not
// hold lines starting with '.'. beforeEnd, when set, runs just before the
// end-of-data line is sent: from then on the message may be delivered.
func (l *lmtpClient) deliver(rcpts []string, msg []byte, beforeEnd func()) ([]int, error) {
	if code, text, err := l.cmd("MAIL FROM:<bench@hostile.example>"); err != nil || code != 250 {
		return nil, fmt.Errorf("MAIL: %d %s %v", code, text, err)
	}
	accepted := 0
	for _, r := range rcpts {
		code, text, err := l.cmd("RCPT TO:<" + r + ">")
		if err != nil {
			return nil, fmt.Errorf("RCPT: %w", err)
		}
		if code == 250 {
			accepted++
		} else if accepted == 0 && len(rcpts) == 1 {
			return nil, fmt.Errorf("RCPT: %d %s", code, text)
		}
	}
	if accepted == 0 {
		l.cmd("RSET")
		return nil, errors.New("no recipient accepted")
	}
	if code, text, err := l.cmd("DATA"); err != nil || code != 354 {
		return nil, fmt.Errorf("DATA: %d %s %v", code, text, err)
	}
	l.nc.SetDeadline(time.Now().Add(l.timeout))
	if _, err := l.nc.Write(msg); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if beforeEnd != nil {
		beforeEnd()
	}
	if _, err := io.WriteString(l.nc, ".\r\n"); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	codes := make([]int, 0, accepted)
	for range accepted {
		code, _, err := l.reply()
		if err != nil {
			return codes, fmt.Errorf("after DATA: %w", err)
		}
		codes = append(codes, code)
	}
	return codes, nil
}
