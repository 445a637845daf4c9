package imapserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/imapurl"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// badURL is an IMAP URL this server will not follow, with the reason:
// CATENATE answers it NO [BADURL url] (RFC 4469 6), URLFETCH with NIL
// (RFC 4467 6.3).
type badURL struct{ reason string }

func (e *badURL) Error() string { return e.reason }

func badURLf(format string, a ...any) error { return &badURL{fmt.Sprintf(format, a...)} }

// badURLResponse is the NO [BADURL url] of RFC 4469 6; the URL goes into
// the response code with "]" escaped, which url-resp-text cannot hold.
func badURLResponse(raw string, err error) error {
	var bu *badURL
	if !errors.As(err, &bu) {
		return err
	}
	code := "BADURL " + strings.NewReplacer("]", "%5D", "\r", "%0D", "\n", "%0A").Replace(raw)
	return errNO(code, "Bad URL: "+bu.reason)
}

// namesThisServer says a URL's server part names this server: its host
// is one of the configured ServerNames (Config.ServerNames: TCP does not
// tell which name the client used) or the address the connection came in
// on, and its port is absent (the default port, RFC 5092 3.2) or the
// one the connection came in on.
func (c *conn) namesThisServer(u *imapurl.URL) bool {
	local, _ := c.nc.LocalAddr().(*net.TCPAddr)
	if u.Port != "" && (local == nil || u.Port != strconv.Itoa(local.Port)) {
		return false
	}
	host := strings.TrimSuffix(strings.TrimPrefix(u.Host, "["), "]")
	for _, name := range c.srv.cfg.ServerNames {
		if strings.EqualFold(name, host) {
			return true
		}
	}
	if local == nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	lip, ok := netip.AddrFromSlice(local.IP)
	return err == nil && ok && ip.Unmap() == lip.Unmap()
}

// urlData is what an IMAP URL names: its bytes, and the parsed message
// with the section's part for URLFETCH's BODYPARTSTRUCTURE and BINARY.
type urlData struct {
	r       *io.SectionReader
	content mailstore.Content
	msg     *imapmsg.Message  // parsed on demand (message)
	section *imapwire.Section // nil for the whole message
	partial *imapurl.Partial  // applied to r already
	mbox    mailstore.Mailbox // to close, when not the selected one
	owner   mailstore.User    // to close, when not the session's user
}

// Close releases the message, its mailbox and its owner's handle.
func (d *urlData) Close() {
	d.content.Close()
	if d.mbox != nil {
		d.mbox.Close()
	}
	if d.owner != nil {
		d.owner.Close()
	}
}

// message returns the parsed message.
func (d *urlData) message() (*imapmsg.Message, error) {
	if d.msg == nil {
		m, err := imapmsg.Parse(d.content, d.content.Size())
		if err != nil {
			return nil, fmt.Errorf("url: parse: %w", err)
		}
		d.msg = m
	}
	return d.msg, nil
}

// baseURL is the base of relative URLs: the selected mailbox of this
// user (RFC 4469 5: relative to the selected mailbox), or the user's
// root when none is selected.
func (c *conn) baseURL() *imapurl.URL {
	b := &imapurl.URL{User: c.username}
	if c.sel != nil {
		b.Mailbox, b.UIDValidity = c.sel.name, c.sel.mbox.UIDValidity()
	}
	return b
}

// resolveURL parses a URL given by the client and resolves it against
// the selected mailbox; it refuses URLs naming another server or no
// message.
func (c *conn) resolveURL(raw string) (*imapurl.URL, error) {
	u, err := parseURL(raw)
	if err != nil {
		return nil, err
	}
	if u, err = u.Resolve(c.baseURL()); err != nil {
		return nil, badURLf("relative URL and no mailbox selected")
	}
	if u.Server && !c.namesThisServer(u) {
		return nil, badURLf("URL names another server")
	}
	if u.UID == 0 || u.HasSearch {
		return nil, badURLf("URL names no message")
	}
	return u, nil
}

// parseURL parses a URL; a bad one is a badURL with imapurl's reason.
func parseURL(raw string) (*imapurl.URL, error) {
	u, err := imapurl.Parse(raw)
	var ue *imapurl.Error
	if errors.As(err, &ue) {
		return nil, badURLf("%s", ue.Reason)
	}
	return u, err
}

// openURL opens what u, resolved, names in user's mailboxes (the
// session's user, or the owner a URLAUTH URL names): the message, its
// section and partial range.
func (c *conn) openURL(u *imapurl.URL, user mailstore.User) (*urlData, error) {
	d := &urlData{}
	var mbox mailstore.Mailbox
	if user == c.user && c.sel != nil && c.sel.name == u.Mailbox {
		mbox = c.sel.mbox
	} else {
		m, err := user.Mailbox(c.ctx, u.Mailbox)
		if errors.Is(err, mailstore.ErrNoMailbox) || errors.Is(err, mailstore.ErrBadName) {
			return nil, badURLf("no such mailbox")
		}
		if err != nil {
			return nil, storeError(fmt.Errorf("url: open %s: %w", u.Mailbox, err))
		}
		mbox, d.mbox = m, m
	}
	fail := func(err error) (*urlData, error) {
		if d.content != nil {
			d.content.Close()
		}
		if d.mbox != nil {
			d.mbox.Close()
		}
		return nil, err
	}
	if u.UIDValidity != 0 && u.UIDValidity != mbox.UIDValidity() {
		return fail(badURLf("UIDVALIDITY is not the mailbox's"))
	}
	content, err := mbox.Open(c.ctx, u.UID)
	if errors.Is(err, mailstore.ErrNoMessage) {
		return fail(badURLf("no such message"))
	}
	if err != nil {
		return fail(storeError(fmt.Errorf("url: open uid %d: %w", u.UID, err)))
	}
	d.content = content
	d.r = io.NewSectionReader(content, 0, content.Size())
	if u.Section != "" {
		if d.section, err = imapwire.ParseSection(u.Section); err != nil {
			return fail(badURLf("bad section %q", u.Section))
		}
		if _, err := d.message(); err != nil {
			return fail(storeError(err))
		}
		// FETCH answers a part that is not there with an empty string;
		// a URL naming one names nothing.
		if ok, err := d.msg.HasPart(d.section.Part); err != nil || !ok {
			return fail(badURLf("no such section"))
		}
		if d.r, err = d.msg.Section(d.section); err != nil {
			return fail(badURLf("no such section"))
		}
	}
	d.partial = u.Partial
	if p := u.Partial; p != nil {
		// RFC 5092 3.3: as a FETCH partial, cut to what there is.
		size := d.r.Size()
		off := min(int64(p.Offset), size)
		n := size - off
		if p.Length != 0 {
			n = min(n, int64(p.Length))
		}
		d.r = io.NewSectionReader(d.r, off, n)
	}
	return d, nil
}
