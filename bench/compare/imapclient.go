package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dormouse/dormouse/internal/imaptest"
)

// keepResponse bounds what the client keeps of one response: only the
// first words of untagged responses are looked at, and literals (message
// bodies) are read and dropped.
const keepResponse = 4096

// imapClient is a small raw IMAP client (imaptest.Conn): one command at a
// time, untagged replies skipped except EXISTS and EXPUNGE, which keep the
// message count.
type imapClient struct {
	*imaptest.Conn
	exists int // messages in the selected mailbox
	// highestModSeq is the last HIGHESTMODSEQ response code seen.
	highestModSeq uint64
	// uidValidity is the last UIDVALIDITY response code seen.
	uidValidity uint64
	// lastEsearch is the last ESEARCH reply, without its TAG and cut
	// at esearchKept bytes.
	lastEsearch string
}

// esearchKept bounds imapClient.lastEsearch.
const esearchKept = 160

// dialIMAP connects to addr and reads the greeting; timeout bounds each
// command.
func dialIMAP(ctx context.Context, addr string, timeout time.Duration) (*imapClient, error) {
	raw, _, err := imaptest.Dial(ctx, addr, imaptest.DialOptions{Timeout: timeout, ReadBuffer: 64 << 10})
	if err != nil {
		return nil, err
	}
	raw.Keep = keepResponse
	raw.TagPrefix = "a"
	return &imapClient{Conn: raw}, nil
}

// close closes the connection without LOGOUT.
func (c *imapClient) close() error { return c.Close() }

// logout sends LOGOUT and closes.
func (c *imapClient) logout() error {
	_, err := c.run("LOGOUT", nil)
	return errors.Join(err, c.Close())
}

// loginSelect logs in and selects INBOX.
func (c *imapClient) loginSelect(user, pass string) error {
	if _, err := c.run(fmt.Sprintf("LOGIN %s %s", imaptest.Quote(user), imaptest.Quote(pass)), nil); err != nil {
		return err
	}
	_, err := c.run("SELECT INBOX", nil)
	return err
}

// run sends one command and reads its reply up to the tagged completion,
// which must be OK. With literal set, the command line must end in {n}: the
// literal follows the server's continuation request. It returns the bytes
// of the reply read (literals included).
func (c *imapClient) run(cmd string, literal []byte) (int, error) {
	before := c.BytesRead()
	var status string
	var err error
	if literal == nil {
		status, err = c.Command(cmd, c.untagged)
	} else {
		status, err = c.CommandLiteral(cmd, literal, c.untagged)
	}
	read := int(c.BytesRead() - before)
	if err != nil {
		return read, fmt.Errorf("%s: %w", imaptest.Verb(cmd), err)
	}
	if !imaptest.IsOK(status) {
		return read, fmt.Errorf("%s: %s", imaptest.Verb(cmd), status)
	}
	return read, nil
}

// untagged notes message counts from "* N EXISTS" and "* N EXPUNGE", and
// keeps the ESEARCH reply.
func (c *imapClient) untagged(line string) {
	if rest, ok := strings.CutPrefix(line, "* ESEARCH "); ok {
		if strings.HasPrefix(rest, "(TAG ") {
			if i := strings.IndexByte(rest, ')'); i >= 0 {
				rest = strings.TrimSpace(rest[i+1:])
			}
		}
		c.lastEsearch = rest[:min(len(rest), esearchKept)]
		return
	}
	if _, rest, ok := strings.Cut(line, "[HIGHESTMODSEQ "); ok {
		if end := strings.IndexByte(rest, ']'); end > 0 {
			if v, err := strconv.ParseUint(rest[:end], 10, 64); err == nil {
				c.highestModSeq = v
			}
		}
	}
	if _, rest, ok := strings.Cut(line, "[UIDVALIDITY "); ok {
		if end := strings.IndexByte(rest, ']'); end > 0 {
			if v, err := strconv.ParseUint(rest[:end], 10, 32); err == nil {
				c.uidValidity = v
			}
		}
	}
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "*" {
		return
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return
	}
	switch strings.ToUpper(f[2]) {
	case "EXISTS":
		c.exists = n
	case "EXPUNGE":
		c.exists--
	}
}
