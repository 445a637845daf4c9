package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxLine bounds a server line the client accepts.
const maxLine = 64 << 10

// maxSetupLines bounds the lines read while waiting for one reply.
const maxSetupLines = 100_000

// imapConn is one client connection. Until IDLE is running, setup reads
// the socket directly; after that a reader goroutine owns the socket's
// read side and hands lines to whoever waits.
type imapConn struct {
	idx  int
	user string
	nc   net.Conn
	br   *bufio.Reader

	exists chan time.Time // "* N EXISTS" arrivals, newest dropped when full
	tagged chan string    // tagged replies and "+" continuations
	done   chan struct{}  // closed when the reader stops
	closed atomic.Bool    // the server closed it (or it failed)
	lines  *atomic.Int64  // untagged lines read while idling, all connections
}

func dialIMAP(ctx context.Context, c *config, idx int, user string, lines *atomic.Int64) (*imapConn, error) {
	d := net.Dialer{Timeout: c.StepTO}
	nc, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", c.Addr, err)
	}
	return &imapConn{
		idx: idx, user: user, nc: nc, br: bufio.NewReaderSize(nc, 4096),
		exists: make(chan time.Time, 16),
		tagged: make(chan string, 4),
		done:   make(chan struct{}),
		lines:  lines,
	}, nil
}

func (ic *imapConn) readLine() (string, error) {
	var b []byte
	for {
		frag, err := ic.br.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > maxLine {
			return "", errors.New("server line too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}

// command sends "tag rest" and reads until the tagged reply, or until a
// continuation when cont is set. Only for setup, before the reader runs.
func (ic *imapConn) command(tag, rest string, cont bool) error {
	if _, err := fmt.Fprintf(ic.nc, "%s %s\r\n", tag, rest); err != nil {
		return fmt.Errorf("send %s: %w", verb(rest), err)
	}
	for range maxSetupLines {
		l, err := ic.readLine()
		if err != nil {
			return fmt.Errorf("%s: %w", verb(rest), err)
		}
		if cont && strings.HasPrefix(l, "+") {
			return nil
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return fmt.Errorf("%s: %s", verb(rest), l)
			}
			return nil
		}
	}
	return fmt.Errorf("%s: no reply in %d lines", verb(rest), maxSetupLines)
}

// verb is the command name of a command line, for errors (never the password).
func verb(rest string) string {
	v, _, _ := strings.Cut(rest, " ")
	return v
}

// quote makes an IMAP quoted string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// setup runs greeting, LOGIN, SELECT INBOX and, when idle is set, IDLE
// up to "+ idling". Then it clears the deadline.
func (ic *imapConn) setup(c *config, password string, idle bool) error {
	ic.nc.SetDeadline(time.Now().Add(c.StepTO))
	g, err := ic.readLine()
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(g, "* OK") {
		return fmt.Errorf("greeting: %q", g)
	}
	if err := ic.command("a1", "LOGIN "+quote(ic.user)+" "+quote(password), false); err != nil {
		return err
	}
	if err := ic.command("a2", "SELECT INBOX", false); err != nil {
		return err
	}
	if idle {
		if err := ic.command("a3", "IDLE", true); err != nil {
			return err
		}
	}
	ic.nc.SetDeadline(time.Time{})
	return nil
}

// read runs for the life of the connection once it idles: it notes EXISTS
// arrivals and passes tagged replies and continuations on.
func (ic *imapConn) read() {
	defer close(ic.done)
	for {
		l, err := ic.readLine()
		if err != nil {
			ic.closed.Store(true)
			return
		}
		now := time.Now()
		switch {
		case strings.HasPrefix(l, "* "):
			ic.lines.Add(1)
			if isExists(l) {
				select {
				case ic.exists <- now:
				default:
				}
			}
		default: // tagged reply or continuation
			select {
			case ic.tagged <- l:
			case <-time.After(time.Minute):
				ic.closed.Store(true)
				return // nobody listens: give up rather than block forever
			}
		}
	}
}

// isExists reports whether l is "* N EXISTS".
func isExists(l string) bool {
	f := strings.Fields(l)
	if len(f) != 3 || f[0] != "*" || !strings.EqualFold(f[2], "EXISTS") {
		return false
	}
	_, err := strconv.ParseUint(f[1], 10, 32)
	return err == nil
}

// drainExists forgets EXISTS arrivals seen so far.
func (ic *imapConn) drainExists() {
	for {
		select {
		case <-ic.exists:
		default:
			return
		}
	}
}

// waitExists waits for the next EXISTS until deadline.
func (ic *imapConn) waitExists(deadline time.Time) (time.Time, bool) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case at := <-ic.exists:
		return at, true
	case <-ic.done:
		return time.Time{}, false
	case <-t.C:
		return time.Time{}, false
	}
}

// send writes one line while the reader runs.
func (ic *imapConn) send(line string, timeout time.Duration) error {
	ic.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := ic.nc.Write([]byte(line + "\r\n"))
	if err != nil {
		return fmt.Errorf("send %s: %w", verb(line), err)
	}
	return nil
}

// await waits for a tagged reply or continuation starting with prefix.
func (ic *imapConn) await(prefix string, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for range maxSetupLines {
		select {
		case l := <-ic.tagged:
			if strings.HasPrefix(l, prefix) {
				return nil
			}
			if strings.HasPrefix(l, "+") {
				continue
			}
			return fmt.Errorf("want %q, got %q", prefix, l)
		case <-ic.done:
			return errors.New("connection closed")
		case <-t.C:
			return fmt.Errorf("no %q within %v", prefix, timeout)
		}
	}
	return errors.New("too many replies")
}

// cycle ends IDLE, runs NOOP (a full wake on a hibernating server) and
// starts IDLE again, waiting for each reply.
func (ic *imapConn) cycle(n int, timeout time.Duration) error {
	tag := "c" + strconv.Itoa(n)
	if err := ic.send("DONE", timeout); err != nil {
		return err
	}
	if err := ic.await("a3 OK", timeout); err != nil {
		return fmt.Errorf("DONE: %w", err)
	}
	if err := ic.send(tag+"n NOOP", timeout); err != nil {
		return err
	}
	if err := ic.await(tag+"n OK", timeout); err != nil {
		return fmt.Errorf("NOOP: %w", err)
	}
	if err := ic.send("a3 IDLE", timeout); err != nil {
		return err
	}
	if err := ic.await("+", timeout); err != nil {
		return fmt.Errorf("IDLE: %w", err)
	}
	return nil
}

// close ends IDLE, logs out and closes, without waiting for replies.
func (ic *imapConn) close() {
	ic.nc.SetWriteDeadline(time.Now().Add(time.Second))
	ic.nc.Write([]byte("DONE\r\nz LOGOUT\r\n"))
	ic.nc.Close()
}
