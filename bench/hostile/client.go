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

	"github.com/dormouse/dormouse/internal/imaptest"
)

// keepResponse bounds what the client keeps of one server response:
// hostile probes provoke responses of many megabytes, which are read and
// dropped (imaptest.Conn.Keep).
const keepResponse = 64 << 10

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
// Each command has its own deadline (timeout).
func dialIMAP(ctx context.Context, addr, from string, useTLS bool, timeout time.Duration) (*imaptest.Conn, error) {
	o := imaptest.DialOptions{From: from, Timeout: timeout, ReadBuffer: 64 << 10}
	if useTLS {
		o.TLS = &tls.Config{InsecureSkipVerify: true} // the server's own self-signed certificate
	}
	c, _, err := imaptest.Dial(ctx, addr, o)
	if err != nil {
		return nil, err
	}
	c.Keep = keepResponse
	c.TagPrefix = "h"
	return c, nil
}

// login dials and logs in; the error holds the server's answer.
func login(ctx context.Context, addr, from, user, pw string, timeout time.Duration) (*imaptest.Conn, error) {
	c, err := dialIMAP(ctx, addr, from, false, timeout)
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, pw); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// exists selects mailbox and returns its message count.
func exists(c *imaptest.Conn, mailbox string) (int, error) {
	n := -1
	st, err := c.Command("SELECT "+imaptest.Quote(mailbox), func(r string) {
		f := strings.Fields(r)
		if len(f) == 3 && f[2] == "EXISTS" {
			n, _ = strconv.Atoi(f[1])
		}
	})
	if err == nil && !imaptest.IsOK(st) {
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
