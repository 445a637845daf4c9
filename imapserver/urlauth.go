package imapserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/dormouse/dormouse/imapurl"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// URLAUTH (RFC 4467) with URLAUTH=BINARY (RFC 5524): GENURLAUTH signs an
// IMAP URL of one of the user's messages with the mailbox's access key,
// and whoever holds the signed URL and the access it names may read what
// it points to with URLFETCH (or CATENATE), until RESETKEY or EXPIRE. The
// one mechanism is INTERNAL: the token is HMAC-SHA256 of the URL's rump
// (its text up to ";URLAUTH=access") under the mailbox access key, which
// the store makes from crypto/rand and keeps (mailstore.URLAuthUser);
// keys never leave the store but as tokens, and are never logged.

// urlauthCaps are advertised when the store keeps access keys.
const urlauthCaps = " URLAUTH URLAUTH=BINARY"

// urlauthMechanism is the one URLAUTH mechanism (RFC 4467 7).
const urlauthMechanism = "INTERNAL"

// urlauthToken is the INTERNAL verifier of rump under key.
func urlauthToken(key []byte, rump string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(rump))
	return hex.EncodeToString(m.Sum(nil))
}

// urlauthUser returns the session user's access keys.
func (c *conn) urlauthUser() (mailstore.URLAuthUser, error) {
	ku, ok := c.user.(mailstore.URLAuthUser)
	if !ok {
		return nil, errNO("CANNOT", "URLAUTH is not supported by this mail store")
	}
	return ku, nil
}

// parseAuthURL parses an absolute URLAUTH URL naming this server.
func (c *conn) parseAuthURL(raw string) (*imapurl.URL, error) {
	u, err := parseURL(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case !u.Scheme || !u.Server:
		return nil, badURLf("not an absolute imap:// URL")
	case !c.namesThisServer(u):
		return nil, badURLf("URL names another server")
	case u.AccessType == "":
		return nil, badURLf("no ;URLAUTH=")
	case u.User == "":
		// RFC 4467 3: authimapurl names the mailbox's owner.
		return nil, badURLf("URL names no user")
	}
	return u, nil
}

// handleGenURLAuth serves GENURLAUTH (RFC 4467 6.1): each URL rump, which
// must name a mailbox of the session's user on this server, comes back
// with the INTERNAL verifier; the mailbox's key is made on first use.
func handleGenURLAuth(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.GenURLAuthArgs)
	if a == nil {
		return errBAD("", "Missing URLs")
	}
	ku, err := c.urlauthUser()
	if err != nil {
		return err
	}
	out := make([]string, len(a.URLs))
	for i, raw := range a.URLs {
		if a.Mechanisms[i] != urlauthMechanism {
			return errNO("", fmt.Sprintf("Unsupported URLAUTH mechanism %s", a.Mechanisms[i]))
		}
		u, err := c.parseAuthURL(raw)
		switch {
		case err != nil:
		case u.Mechanism != "":
			err = badURLf("URL already has a verifier")
		case u.User != c.username:
			err = badURLf("URL names another user's mailbox")
		}
		if err != nil {
			return badURLResponse(raw, err)
		}
		key, err := ku.AccessKey(c.ctx, u.Mailbox, true)
		if errors.Is(err, mailstore.ErrNoMailbox) || errors.Is(err, mailstore.ErrBadName) {
			return badURLResponse(raw, badURLf("no such mailbox"))
		}
		if err != nil {
			return storeError(fmt.Errorf("genurlauth: %w", err))
		}
		out[i] = u.Rump + ":" + urlauthMechanism + ":" + urlauthToken(key, u.Rump)
	}
	c.w.Raw("* GENURLAUTH")
	for _, s := range out {
		c.w.SP().String(s)
	}
	c.w.CRLF()
	return nil
}

// handleResetKey serves RESETKEY (RFC 4467 6.2): the access keys of every
// mailbox of the user, or of one, are dropped, and with them every URL
// authorized by them. The tagged OK names the mechanisms (URLMECH).
func handleResetKey(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.ResetKeyArgs)
	if a == nil {
		return errBAD("", "Bad arguments")
	}
	ku, err := c.urlauthUser()
	if err != nil {
		return err
	}
	for _, m := range a.Mechanisms {
		if m != urlauthMechanism {
			return errNO("", fmt.Sprintf("Unsupported URLAUTH mechanism %s", m))
		}
	}
	name := ""
	if a.HasMailbox {
		name = canonicalName(a.Mailbox)
	}
	if err := ku.ResetAccessKeys(c.ctx, name); err != nil {
		return storeError(fmt.Errorf("resetkey: %w", err))
	}
	c.okCode = "URLMECH " + urlauthMechanism
	c.okText = "RESETKEY completed"
	return nil
}

// mayFetch says whether the session may use a URL's access identifier
// (RFC 4467 3): "anonymous" and "authuser" anyone logged in here,
// "user+NAME" the user NAME, "submit+NAME" a user configured as a
// submission server (Config.URLAuthSubmitters), acting for NAME.
func (c *conn) mayFetch(u *imapurl.URL) bool {
	switch u.AccessType {
	case "anonymous", "authuser":
		return true
	case "user":
		return u.AccessUser == c.username
	case "submit":
		return slices.Contains(c.srv.cfg.URLAuthSubmitters, c.username)
	}
	return false
}

// openAuthURL checks a URLAUTH URL (its verifier against the owner's
// mailbox key, its expiry, its access) and opens what it names, which may
// be another user's message.
func (c *conn) openAuthURL(u *imapurl.URL) (*urlData, error) {
	switch {
	case u.Mechanism == "":
		return nil, badURLf("URLAUTH URL without a verifier")
	case u.Mechanism != urlauthMechanism:
		return nil, badURLf("unsupported URLAUTH mechanism")
	case !u.Expire.IsZero() && !time.Now().Before(u.Expire):
		return nil, badURLf("URL expired")
	case !c.mayFetch(u):
		return nil, badURLf("URL's access is not granted to this user")
	}
	owner, closeOwner := c.user, false
	if u.User != c.username {
		lk, ok := c.srv.cfg.Auth.(userLookup)
		if !ok {
			return nil, badURLf("no such user")
		}
		name, ok, err := lk.LookupUser(u.User)
		if err != nil {
			return nil, storeError(fmt.Errorf("url: look up %q: %w", u.User, err))
		}
		if !ok {
			return nil, badURLf("no such user")
		}
		if owner, err = c.srv.cfg.Store.User(c.ctx, name); err != nil {
			return nil, storeError(fmt.Errorf("url: open user %q: %w", name, err))
		}
		closeOwner = true
	}
	d, err := c.verifiedURL(u, owner)
	if closeOwner {
		if err != nil {
			owner.Close()
		} else {
			d.owner = owner
		}
	}
	return d, err
}

// verifiedURL opens u in owner's mailboxes if its verifier is the one
// the mailbox's key gives.
func (c *conn) verifiedURL(u *imapurl.URL, owner mailstore.User) (*urlData, error) {
	ku, ok := owner.(mailstore.URLAuthUser)
	if !ok {
		return nil, badURLf("URLAUTH is not supported by this mail store")
	}
	key, err := ku.AccessKey(c.ctx, u.Mailbox, false)
	if errors.Is(err, mailstore.ErrNoMailbox) || errors.Is(err, mailstore.ErrBadName) {
		return nil, badURLf("no such mailbox")
	}
	if err != nil {
		return nil, storeError(fmt.Errorf("url: %w", err))
	}
	if key == nil || !hmac.Equal([]byte(urlauthToken(key, u.Rump)), []byte(u.Token)) {
		// No key (never made, or reset) or another key: the same answer.
		return nil, badURLf("URLAUTH verifier does not match")
	}
	return c.openURL(u, owner)
}

// handleURLFetch serves URLFETCH (RFC 4467 6.3) with RFC 5524's
// parameters: one untagged URLFETCH response with, for each URL, its
// content, or NIL when it is not valid here (bad, expired, another
// server's, not verified, not for this user, gone); for a parenthesised
// URL, the items asked: BODYPARTSTRUCTURE, BODY (the octets) or BINARY
// (the part's content decoded, as a literal8; NIL when its encoding is
// unknown).
func handleURLFetch(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.URLFetchArgs)
	if a == nil {
		return errBAD("", "Missing URLs")
	}
	if _, err := c.urlauthUser(); err != nil {
		return err
	}
	buf := make([]byte, 32<<10)
	c.w.Raw("* URLFETCH")
	for _, it := range a.Items {
		c.w.SP().String(it.URL)
		d, err := c.urlFetchOpen(it.URL)
		if err != nil {
			var bu *badURL
			if !errors.As(err, &bu) {
				c.log.Warn("urlfetch", "err", err)
			}
			c.w.Raw(" NIL")
			continue
		}
		c.writeURLFetch(d, it, buf)
		d.Close()
	}
	c.w.CRLF()
	return nil
}

// urlFetchOpen parses, checks and opens one URL of URLFETCH.
func (c *conn) urlFetchOpen(raw string) (*urlData, error) {
	u, err := c.parseAuthURL(raw)
	if err != nil {
		return nil, err
	}
	return c.openAuthURL(u)
}

// writeURLFetch writes what one URL of URLFETCH asked for, after its URL.
func (c *conn) writeURLFetch(d *urlData, it imapwire.URLFetchItem, buf []byte) {
	if len(it.Params) == 0 {
		c.writePartial(nil, fetchItemData{r: d.r, size: d.r.Size()}, false, buf)
		return
	}
	var path []int
	isPart := true // the URL names a body part, not a header or text
	if d.section != nil {
		path, isPart = d.section.Part, d.section.Specifier == ""
	}
	for _, p := range it.Params {
		switch p {
		case "BODYPARTSTRUCTURE":
			c.w.Raw(" (BODYPARTSTRUCTURE ")
			msg, err := d.message()
			if err != nil || !isPart || !msg.WritePartStructure(c.w, path) {
				c.w.NIL()
			}
			c.w.Raw(")")
		case "BODY":
			c.w.Raw(" (BODY")
			c.writePartial(nil, fetchItemData{r: d.r, size: d.r.Size()}, false, buf)
			c.w.Raw(")")
		case "BINARY":
			c.w.Raw(" (BINARY")
			c.writePartial(nil, c.urlBinary(d, path, isPart), true, buf)
			c.w.Raw(")")
		}
	}
}

// urlBinary is a URL's part decoded (RFC 5524 4: BINARY), cut to the
// URL's partial range; size -1 (NIL) when the URL names no part or its
// encoding cannot be decoded.
func (c *conn) urlBinary(d *urlData, path []int, isPart bool) fetchItemData {
	msg, err := d.message()
	if err != nil || !isPart {
		return fetchItemData{size: -1}
	}
	r, n, hasNUL, err := msg.Binary(path)
	if err != nil {
		return fetchItemData{size: -1}
	}
	if p := d.partial; p != nil {
		off := min(int64(p.Offset), n)
		if _, err := io.CopyN(io.Discard, r, off); err != nil {
			return fetchItemData{size: -1}
		}
		n -= off
		if p.Length != 0 {
			n = min(n, int64(p.Length))
		}
	}
	return fetchItemData{r: r, size: n, literal8: hasNUL}
}
