package imapserver

import (
	"fmt"
	"io"
	"os"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// catenate assembles a CATENATE message (RFC 4469) from its TEXT
// literals and the messages its URLs name into a spooled literal, never
// whole in memory. A URL that cannot be followed refuses the command
// with NO [BADURL url] (RFC 4469 6); a message larger than the literal
// limit, which APPENDLIMIT advertises, with NO [TOOBIG] (RFC 4469 6,
// RFC 7889), before more is copied. URL data is copied as stored: an IMAP
// URL names BODY[section], not a decoded BINARY part, so 8-bit and binary
// content arrives as the source holds it; a TEXT literal8 is taken as
// APPEND takes one (RFC 4469 4.1 with RFC 3516 4.4).
func (c *conn) catenate(parts []imapwire.CatPart) (*imapwire.Literal, error) {
	f, err := os.CreateTemp(c.spoolDir(), "dormouse-catenate-*")
	if err != nil {
		return nil, spoolError(err)
	}
	lit := &imapwire.Literal{File: f}
	for _, p := range parts {
		// Each URL part may open and parse a message, as a FETCH of a
		// section does: stop when the client is gone or the server
		// stops, as FETCH and SEARCH do between messages.
		err := c.interrupted()
		if err == nil {
			err = c.catenatePart(lit, p)
		}
		if err != nil {
			lit.Close()
			return nil, err
		}
	}
	return lit, nil
}

// catenatePart appends one part to lit.
func (c *conn) catenatePart(lit *imapwire.Literal, p imapwire.CatPart) error {
	var r io.Reader
	var n int64
	if p.Text != nil {
		r, n = p.Text.Reader(), p.Text.Size
	} else {
		u, err := c.resolveURL(p.URL)
		if err != nil {
			return badURLResponse(p.URL, err)
		}
		var d *urlData
		switch {
		case u.AccessType != "":
			// RFC 4469 5: a URLAUTH URL is checked as URLFETCH
			// checks it, and may name another user's message.
			d, err = c.openAuthURL(u)
		case u.User != "" && u.User != c.username:
			err = badURLf("URL names another user's mailbox")
		default:
			d, err = c.openURL(u, c.user)
		}
		if err != nil {
			return badURLResponse(p.URL, err)
		}
		defer d.Close()
		r, n = d.r, d.r.Size()
	}
	if limit := c.srv.limits.MaxLiteral; lit.Size+n > limit {
		return errNO("TOOBIG", fmt.Sprintf("Message would exceed the limit of %d bytes", limit))
	}
	if _, err := io.Copy(lit.File, io.LimitReader(r, n)); err != nil {
		return spoolError(err)
	}
	lit.Size += n
	return nil
}

// spoolError is a failure to spool the assembled message: a full disk
// answers NO [OVERQUOTA], as for a spooled literal (commandError).
func spoolError(err error) error {
	if mailstore.IsNoSpace(err) {
		return storeError(fmt.Errorf("catenate: %w: %w", mailstore.ErrNoSpace, err))
	}
	return storeError(fmt.Errorf("catenate: %w", err))
}
