package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/dormouse/dormouse/bench/internal/mda"
	"github.com/dormouse/dormouse/internal/imaptest"
)

// benchTool names bench/idle's messages.
const benchTool = "bench-idle"

// deliverer puts one message into a user's INBOX and returns the moment it
// became deliverable: just before the rename into new/, or just before the
// LMTP end-of-data line was sent. Latency is measured from there.
type deliverer interface {
	deliver(ctx context.Context, user string) (time.Time, error)
	Close() error
}

// maildirDeliverer renames into new/ (mda.Maildir).
type maildirDeliverer struct{ mda.Maildir }

func (d *maildirDeliverer) deliver(_ context.Context, user string) (time.Time, error) {
	return d.Deliver(user)
}

func (d *maildirDeliverer) Close() error { return nil }

// lmtpDeliverer keeps one LMTP session open and sends one transaction per
// delivery (RFC 2033).
type lmtpDeliverer struct {
	nc      net.Conn
	br      *bufio.Reader
	timeout time.Duration
	seq     int64
}

func dialLMTP(ctx context.Context, addr string, timeout time.Duration) (*lmtpDeliverer, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lmtp: %w", err)
	}
	l := &lmtpDeliverer{nc: nc, br: bufio.NewReader(nc), timeout: timeout}
	nc.SetDeadline(time.Now().Add(timeout))
	if err := l.expect("220"); err != nil {
		nc.Close()
		return nil, fmt.Errorf("lmtp greeting: %w", err)
	}
	if err := l.cmd("LHLO bench.idle", "250"); err != nil {
		nc.Close()
		return nil, err
	}
	return l, nil
}

// expect reads one reply (all its lines) and checks its code.
func (l *lmtpDeliverer) expect(code string) error {
	for range 1000 {
		line, err := l.br.ReadString('\n')
		if err != nil {
			return err
		}
		if len(line) < 4 {
			return fmt.Errorf("short reply %q", line)
		}
		if line[3] == '-' {
			continue
		}
		if !strings.HasPrefix(line, code) {
			return fmt.Errorf("want %s, got %q", code, strings.TrimSpace(line))
		}
		return nil
	}
	return errors.New("reply too long")
}

func (l *lmtpDeliverer) cmd(line, code string) error {
	if _, err := l.nc.Write([]byte(line + "\r\n")); err != nil {
		return fmt.Errorf("lmtp %s: %w", imaptest.Verb(line), err)
	}
	if err := l.expect(code); err != nil {
		return fmt.Errorf("lmtp %s: %w", imaptest.Verb(line), err)
	}
	return nil
}

func (l *lmtpDeliverer) deliver(_ context.Context, user string) (time.Time, error) {
	l.seq++
	l.nc.SetDeadline(time.Now().Add(l.timeout))
	if err := l.cmd("MAIL FROM:<bench@localhost>", "250"); err != nil {
		return time.Time{}, err
	}
	if err := l.cmd("RCPT TO:<"+user+"@localhost>", "250"); err != nil {
		l.cmd("RSET", "250")
		return time.Time{}, err
	}
	if err := l.cmd("DATA", "354"); err != nil {
		return time.Time{}, err
	}
	// The message holds no line starting with '.', so no dot-stuffing.
	if _, err := l.nc.Write([]byte(mda.Message(benchTool, user, l.seq, time.Now()))); err != nil {
		return time.Time{}, fmt.Errorf("lmtp data: %w", err)
	}
	t0 := time.Now()
	if err := l.cmd(".", "250"); err != nil { // one reply: one recipient
		return time.Time{}, fmt.Errorf("lmtp deliver to %s: %w", user, err)
	}
	return t0, nil
}

func (l *lmtpDeliverer) Close() error {
	l.nc.SetDeadline(time.Now().Add(time.Second))
	l.nc.Write([]byte("QUIT\r\n"))
	return l.nc.Close()
}

func newDeliverer(ctx context.Context, c *config) (deliverer, string, error) {
	if c.LMTP != "" {
		d, err := dialLMTP(ctx, c.LMTP, c.StepTO)
		return d, "lmtp", err
	}
	return &maildirDeliverer{mda.Maildir{Fmt: c.MaildirFmt, Tool: benchTool}}, "rename", nil
}
