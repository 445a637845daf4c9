// Package imapurl reads and writes IMAP URLs (RFC 5092), with the URLAUTH
// parts of RFC 4467 (";EXPIRE=", ";URLAUTH=access:mechanism:token") and
// URL-PARTIAL (";PARTIAL=offset.length", RFC 5092 3.3): the URLs that
// CATENATE (RFC 4469), GENURLAUTH and URLFETCH take. It knows the syntax
// only; which server a URL names and who may read what it points to is
// the server's business.
package imapurl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// URL is an IMAP URL, absolute or relative (RFC 5092 7). A relative URL
// gives its parts from the first it names on: Server, else AbsPath or
// Mailbox, else UID, else Section, else Partial; Resolve fills in the
// rest from a base.
type URL struct {
	// Server says the URL names a server: "imap://" (Scheme) or a
	// network-path reference "//".
	Scheme, Server bool
	User           string // enc-user decoded; "" when absent
	Auth           string // ";AUTH=" type as given ("*" for any); "" when absent
	Host           string // lower case; brackets kept around an IPv6 literal
	Port           string // digits; "" for the default port

	// AbsPath says a relative URL starts with "/": its mailbox is named
	// from the server's root, not from the base's hierarchy.
	AbsPath bool
	// Mailbox is the mailbox name in UTF-8 (RFC 5092 3.3) with INBOX
	// spelled canonically; "" when the URL names none.
	Mailbox     string
	UIDValidity uint32 // 0 when absent
	// Search is the "?" search program of a message-list URL, decoded;
	// HasSearch says there is one.
	Search    string
	HasSearch bool

	UID     uint32 // 0 when absent
	Section string // ";SECTION=" decoded, as between BODY[ and ]; "" when absent
	Partial *Partial

	// URLAUTH (RFC 4467 3): Expire is zero without ";EXPIRE=";
	// AccessType is "" without ";URLAUTH=", else "submit", "user",
	// "authuser" or "anonymous", with AccessUser for the first two.
	Expire     time.Time
	AccessType string
	AccessUser string
	// Mechanism (upper case) and Token (lower case hex) are the
	// verifier, "" in a rump URL.
	Mechanism string
	Token     string
	// Rump is the URL's text as given up to the end of ";URLAUTH=access":
	// what a URLAUTH token signs (RFC 4467 7). "" without ";URLAUTH=".
	Rump string
}

// Partial is a ";PARTIAL=offset.length" range (RFC 5092 3.3); Length 0
// means to the end.
type Partial struct{ Offset, Length uint32 }

// Error is a URL that does not parse, with the reason.
type Error struct {
	URL    string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("imapurl: %s: %q", e.Reason, e.URL) }

// ErrNoBase says a relative URL needs a base that has what it leaves out.
var ErrNoBase = errors.New("imapurl: relative URL without a base for it")

// Parse parses an IMAP URL, absolute or relative. Keywords (";UID=" ...)
// are case-insensitive (RFC 5234 strings). Errors are *Error.
func Parse(s string) (*URL, error) {
	p := parser{src: s}
	u, err := p.parse()
	if err != nil {
		return nil, &Error{URL: s, Reason: err.Error()}
	}
	return u, nil
}

type parser struct {
	src string
}

func (p *parser) parse() (*URL, error) {
	u := &URL{}
	rest, off := p.src, 0
	switch {
	case hasPrefixFold(rest, "imap://"):
		u.Scheme, u.Server = true, true
		rest, off = rest[7:], 7
	case hasPrefixFold(rest, "imap:"):
		return nil, errors.New(`"imap:" without "//"`)
	case strings.HasPrefix(rest, "//"):
		u.Server = true
		rest, off = rest[2:], 2
	}
	if u.Server {
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			end = len(rest)
		}
		if err := u.parseServer(rest[:end]); err != nil {
			return nil, err
		}
		rest, off = rest[end:], off+end
		if rest == "" {
			return u, nil
		}
		rest, off = rest[1:], off+1
		if rest == "" {
			return u, nil
		}
		return u, p.parsePath(u, rest, off, true)
	}
	if strings.HasPrefix(rest, "/") {
		u.AbsPath = true
		rest, off = rest[1:], off+1
		if rest == "" {
			return u, nil
		}
		return u, p.parsePath(u, rest, off, true)
	}
	if rest == "" {
		return nil, errors.New("empty URL")
	}
	return u, p.parsePath(u, rest, off, rest[0] != ';')
}

// parseServer parses iserver: [iuserinfo "@"] host [":" port].
func (u *URL) parseServer(s string) error {
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		info := s[:at]
		s = s[at+1:]
		user := info
		if i := indexFold(info, ";AUTH="); i >= 0 {
			user = info[:i]
			auth := info[i+6:]
			if auth != "*" {
				var err error
				if auth, err = unescape(auth, achar, "AUTH type"); err != nil {
					return err
				}
			}
			u.Auth = auth
		}
		if user != "" {
			var err error
			if u.User, err = unescape(user, achar, "user"); err != nil {
				return err
			}
		} else if u.Auth == "" {
			return errors.New("empty user before @")
		}
	}
	host := s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return errors.New("unterminated IPv6 address")
		}
		host, s = s[:end+1], s[end+1:]
		for _, c := range []byte(host[1 : len(host)-1]) {
			if !isHex(c) && c != ':' && c != '.' {
				return errors.New("bad IPv6 address")
			}
		}
	} else {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			i = len(s)
		}
		host, s = s[:i], s[i:]
		for _, c := range []byte(host) {
			if !isUnreserved(c) {
				return fmt.Errorf("bad character %q in host", c)
			}
		}
	}
	if len(host) == 0 || host == "[]" {
		return errors.New("no host")
	}
	u.Host = strings.ToLower(host)
	if s == "" {
		return nil
	}
	if s[0] != ':' {
		return errors.New("junk after host")
	}
	if port := s[1:]; port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 || port[0] == '+' {
			return fmt.Errorf("bad port %q", port)
		}
		u.Port = strconv.FormatUint(n, 10)
	}
	return nil
}

// Keywords of the path, in the order they may come.
var keywords = [...]string{"UIDVALIDITY", "UID", "SECTION", "PARTIAL", "EXPIRE", "URLAUTH"}

const (
	kwUIDValidity = iota
	kwUID
	kwSection
	kwPartial
	kwExpire
	kwURLAuth
)

// parsePath parses what follows the server's "/" (or the whole of a
// relative URL): [mailbox [";UIDVALIDITY=" n]] then ";"-parameters in
// keyword order, "/" between UID, SECTION and PARTIAL. off is where rest
// starts in the source, for the rump.
func (p *parser) parsePath(u *URL, rest string, off int, mailbox bool) error {
	pieces := strings.Split(rest, ";")
	starts := make([]int, len(pieces))
	pos := off
	for i, pc := range pieces {
		starts[i] = pos
		pos += len(pc) + 1
	}
	if mailbox {
		enc := pieces[0]
		if len(pieces) == 1 {
			if q := strings.IndexByte(enc, '?'); q >= 0 {
				if err := u.setSearch(enc[q+1:]); err != nil {
					return err
				}
				enc = enc[:q]
			}
		} else if !hasPrefixFold(pieces[1], "UIDVALIDITY=") {
			// The "/" of iuid ("/" ";UID=") ends the mailbox's text.
			var ok bool
			if enc, ok = strings.CutSuffix(enc, "/"); !ok {
				return errors.New(`expected "/" before ";"`)
			}
		}
		if enc == "" {
			return errors.New("empty mailbox name")
		}
		name, err := unescape(enc, bchar, "mailbox")
		if err != nil {
			return err
		}
		if name, err = imapwire.MailboxFromUTF8(name); err != nil {
			return fmt.Errorf("mailbox: %w", err)
		}
		u.Mailbox = mailstore.CanonicalName(name)
	} else if pieces[0] != "" {
		return errors.New(`expected ";"`)
	}
	last := -1
	for i := 1; i < len(pieces); i++ {
		pc := pieces[i]
		eq := strings.IndexByte(pc, '=')
		if eq < 0 {
			return fmt.Errorf("parameter without value %q", pc)
		}
		kw := -1
		for k, name := range keywords {
			if strings.EqualFold(pc[:eq], name) {
				kw = k
			}
		}
		switch {
		case kw < 0:
			return fmt.Errorf("unknown parameter %q", pc[:eq])
		case kw <= last:
			return fmt.Errorf("parameter %s out of order", keywords[kw])
		case kw == kwUIDValidity && (i != 1 || u.Mailbox == ""):
			return errors.New("UIDVALIDITY must follow the mailbox")
		case kw >= kwExpire && u.Mailbox == "":
			return errors.New("URLAUTH needs a mailbox")
		case kw >= kwExpire && u.UID == 0:
			return errors.New("URLAUTH needs a UID")
		}
		last = kw
		val := pc[eq+1:]
		// A "/" ends UIDVALIDITY, UID and SECTION when UID, SECTION or
		// PARTIAL follows; nowhere else.
		next := ""
		if i+1 < len(pieces) {
			next = pieces[i+1]
		}
		wantSlash := (kw == kwUIDValidity && next != "") ||
			((kw == kwUID || kw == kwSection) && (hasPrefixFold(next, "SECTION=") || hasPrefixFold(next, "PARTIAL=")))
		if kw == kwUIDValidity && next == "" {
			if q := strings.IndexByte(val, '?'); q >= 0 {
				if err := u.setSearch(val[q+1:]); err != nil {
					return err
				}
				val = val[:q]
			}
		}
		if wantSlash {
			var ok bool
			if val, ok = strings.CutSuffix(val, "/"); !ok {
				return fmt.Errorf(`expected "/" after %s`, keywords[kw])
			}
		}
		if err := u.setParam(kw, val); err != nil {
			return err
		}
		if kw == kwURLAuth {
			// The rump ends before the verifier's ":".
			end := starts[i] + len(pc)
			if c := strings.IndexByte(pc, ':'); c >= 0 {
				end = starts[i] + c
			}
			u.Rump = p.src[:end]
		}
	}
	if u.Mailbox == "" && u.UID == 0 && u.Section == "" && u.Partial == nil {
		return errors.New("nothing named")
	}
	if u.Expire != (time.Time{}) && u.AccessType == "" {
		return errors.New("EXPIRE without URLAUTH")
	}
	return nil
}

func (u *URL) setSearch(enc string) error {
	s, err := unescape(enc, bchar, "search")
	if err != nil {
		return err
	}
	u.Search, u.HasSearch = s, true
	return nil
}

// setParam sets the value of one ";keyword=" parameter.
func (u *URL) setParam(kw int, val string) error {
	var err error
	switch kw {
	case kwUIDValidity:
		u.UIDValidity, err = nzNumber(val, "UIDVALIDITY")
	case kwUID:
		u.UID, err = nzNumber(val, "UID")
	case kwSection:
		if val == "" {
			return errors.New("empty SECTION")
		}
		u.Section, err = unescape(val, bchar, "section")
	case kwPartial:
		u.Partial, err = parsePartial(val)
	case kwExpire:
		// RFC 4467 3: date-time of RFC 3339.
		u.Expire, err = time.Parse(time.RFC3339, val)
		if err != nil {
			err = fmt.Errorf("bad EXPIRE %q", val)
		}
	case kwURLAuth:
		err = u.parseAccess(val)
	}
	return err
}

// parseAccess parses access [":" mechanism ":" token] (RFC 4467 3, 9).
func (u *URL) parseAccess(val string) error {
	access, verifier, hasVerifier := strings.Cut(val, ":")
	typ, user, hasUser := strings.Cut(access, "+")
	typ = strings.ToLower(typ)
	switch {
	case (typ == "submit" || typ == "user") && hasUser:
		var err error
		if user, err = unescape(user, achar, "access user"); err != nil {
			return err
		}
		u.AccessType, u.AccessUser = typ, user
	case (typ == "authuser" || typ == "anonymous") && !hasUser:
		u.AccessType = typ
	default:
		return fmt.Errorf("bad URLAUTH access %q", access)
	}
	if !hasVerifier {
		return nil
	}
	mech, token, ok := strings.Cut(verifier, ":")
	if !ok || mech == "" {
		return errors.New("bad URLAUTH verifier")
	}
	for _, c := range []byte(mech) {
		if !isAlnum(c) && c != '-' && c != '.' {
			return fmt.Errorf("bad URLAUTH mechanism %q", mech)
		}
	}
	if len(token) < 32 {
		return errors.New("URLAUTH token shorter than 32 hex digits")
	}
	for _, c := range []byte(token) {
		if !isHex(c) {
			return errors.New("URLAUTH token not hexadecimal")
		}
	}
	u.Mechanism, u.Token = strings.ToUpper(mech), strings.ToLower(token)
	return nil
}

func parsePartial(val string) (*Partial, error) {
	off, length, hasLength := strings.Cut(val, ".")
	o, err := number(off)
	if err != nil {
		return nil, fmt.Errorf("bad PARTIAL %q", val)
	}
	p := &Partial{Offset: o}
	if hasLength {
		if p.Length, err = nzNumber(length, "PARTIAL length"); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// number parses an RFC 9051 number (uint32).
func number(s string) (uint32, error) {
	if s == "" || len(s) > 10 {
		return 0, errors.New("bad number")
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, errors.New("bad number")
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

func nzNumber(s, what string) (uint32, error) {
	n, err := number(s)
	if err != nil || n == 0 || s[0] == '0' {
		return 0, fmt.Errorf("bad %s %q", what, s)
	}
	return n, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
