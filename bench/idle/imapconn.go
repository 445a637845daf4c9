package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dormouse/dormouse/internal/imaptest"
)

// maxLine bounds what the client keeps of a server response
// (imaptest.Conn.Keep).
const maxLine = 64 << 10

// maxReplies bounds the replies read while waiting for one.
const maxReplies = 100_000

// imapConn is one client connection (imaptest.Conn). Until IDLE is
// running, setup reads the socket directly; after that a reader goroutine
// owns the socket's read side and hands lines to whoever waits.
type imapConn struct {
	*imaptest.Conn
	idx    int
	user   string
	quiet  bool // no IDLE: it sends nothing after SELECT (-quiet)
	notify bool // NOTIFY SET after SELECT (-notify)

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
	if c.TLS {
		tc := tls.Client(nc, c.tlsConfig())
		tc.SetDeadline(time.Now().Add(c.StepTO))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	raw := imaptest.New(nc, 4096)
	raw.Keep = maxLine
	return &imapConn{
		Conn: raw, idx: idx, user: user,
		exists: make(chan time.Time, 16),
		tagged: make(chan string, 4),
		done:   make(chan struct{}),
		lines:  lines,
	}, nil
}

// command runs one command during setup, before the reader runs; a status
// other than OK is an error.
func (ic *imapConn) command(cmd string) error {
	st, err := ic.Command(cmd, nil)
	if err == nil && !imaptest.IsOK(st) {
		err = fmt.Errorf("%s: %s", imaptest.Verb(cmd), st)
	}
	return err
}

// notifyCommand is what -notify sets: interimap 0.5's NOTIFY (its own
// mailboxes named by PERSONAL here), with fetch ("(UID FLAGS)", from
// -notify-fetch; "" for none) as the SELECTED group's MessageNew fetch
// attributes.
func notifyCommand(fetch string) string {
	if fetch != "" {
		fetch = " " + fetch
	}
	return "NOTIFY SET (SELECTED (MessageNew" + fetch + " MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))"
}

// setup runs greeting, LOGIN (XPROXY with -xproxy), (with -compress COMPRESS DEFLATE,)
// SELECT INBOX, -after-select's command if any, NOTIFY with -notify and,
// when idle is set and the connection is not quiet, IDLE (tagged a3) up
// to "+ idling". Then it
// clears the deadline.
func (ic *imapConn) setup(c *config, password string, idle bool) error {
	ic.Timeout = c.StepTO
	g, err := ic.ReadResponse()
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(g, "* OK") {
		return fmt.Errorf("greeting: %q", g)
	}
	if c.StartTLS {
		if err := ic.command("STARTTLS"); err != nil {
			return err
		}
		if err := ic.Conn.StartTLS(c.tlsConfig()); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if c.XProxy != "" {
		if err := ic.command("XPROXY " + imaptest.Quote(c.XProxy) + " " + imaptest.Quote(ic.user) + " 127.0.0.1"); err != nil {
			return err
		}
	} else if err := ic.Login(ic.user, password); err != nil {
		return err
	}
	if c.Compress {
		if err := ic.command("COMPRESS DEFLATE"); err != nil {
			return err
		}
		if err := ic.CompressStateless(); err != nil {
			return err
		}
	}
	if err := ic.command("SELECT INBOX"); err != nil {
		return err
	}
	if c.Upload > 0 {
		if err := ic.upload(c.Upload); err != nil {
			return err
		}
	}
	if c.AfterSel != "" && idle {
		if err := ic.command(c.AfterSel); err != nil {
			return err
		}
	}
	if idle && ic.notify {
		if err := ic.command(notifyCommand(c.NotifyFetch)); err != nil {
			return err
		}
	}
	if idle && !ic.quiet {
		if err := ic.Send("a3 IDLE"); err != nil {
			return err
		}
		if err := ic.awaitIdling(); err != nil {
			return fmt.Errorf("IDLE: %w", err)
		}
	}
	ic.Timeout = 0
	ic.NetConn().SetDeadline(time.Time{})
	return nil
}

// tlsConfig is the client's TLS configuration: the server's certificate
// is not checked (a bench on loopback), the version capped by -tls-max.
func (c *config) tlsConfig() *tls.Config {
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	if c.TLSMax == "1.2" {
		cfg.MaxVersion = tls.VersionTLS12
	}
	return cfg
}

// upload sends n bytes as a non-synchronizing literal of an APPEND to a
// mailbox that does not exist: the server reads them all (TLS records
// of 16 KiB) and answers NO, storing nothing.
func (ic *imapConn) upload(n int) error {
	tag := ic.NextTag()
	line := fmt.Sprintf("%s APPEND NoSuchMailbox-bench {%d+}\r\n%s\r\n", tag, n, strings.Repeat("u", n))
	if err := ic.Write(line); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	st, err := ic.ReadTagged(tag, nil)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if !strings.HasPrefix(st, "NO") {
		return fmt.Errorf("upload: %s, want NO", st)
	}
	return nil
}

// awaitIdling reads up to IDLE's continuation, during setup.
func (ic *imapConn) awaitIdling() error {
	for range maxReplies {
		l, err := ic.ReadResponse()
		if err != nil {
			return err
		}
		if strings.HasPrefix(l, "+") {
			return nil
		}
		if strings.HasPrefix(l, "a3 ") {
			return errors.New(l)
		}
	}
	return fmt.Errorf("no continuation in %d replies", maxReplies)
}

// read runs for the life of the connection once it idles: it notes EXISTS
// arrivals and passes tagged replies and continuations on.
func (ic *imapConn) read() {
	defer close(ic.done)
	for {
		l, err := ic.ReadResponse()
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
	ic.NetConn().SetWriteDeadline(time.Now().Add(timeout))
	return ic.Send(line)
}

// await waits for a tagged reply or continuation starting with prefix.
func (ic *imapConn) await(prefix string, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for range maxReplies {
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

// cycle ends IDLE, runs cmd (NOOP: a keepalive's answer, which Dormouse
// gives asleep; a FETCH wakes the session fully) and starts IDLE again,
// waiting for each reply.
func (ic *imapConn) cycle(n int, cmd string, timeout time.Duration) error {
	tag := "c" + strconv.Itoa(n)
	if err := ic.send("DONE", timeout); err != nil {
		return err
	}
	if err := ic.await("a3 OK", timeout); err != nil {
		return fmt.Errorf("DONE: %w", err)
	}
	if err := ic.send(tag+"n "+cmd, timeout); err != nil {
		return err
	}
	if err := ic.await(tag+"n OK", timeout); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
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
	ic.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	if ic.quiet {
		ic.Write("z LOGOUT\r\n")
	} else {
		ic.Write("DONE\r\nz LOGOUT\r\n")
	}
	ic.Close()
}
