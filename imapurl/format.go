package imapurl

import (
	"strconv"
	"strings"
	"time"
)

// String writes the URL back in its canonical form: keywords in capitals,
// %-escapes only where RFC 5092 requires them, the relative form it was
// parsed in. A URLAUTH URL's String is not its Rump: a token signs the
// text the client gave, not this form.
func (u *URL) String() string {
	var b strings.Builder
	if u.Server {
		if u.Scheme {
			b.WriteString("imap:")
		}
		b.WriteString("//")
		if u.User != "" || u.Auth != "" {
			b.WriteString(escape(u.User, achar))
			if u.Auth != "" {
				b.WriteString(";AUTH=")
				if u.Auth == "*" {
					b.WriteString("*")
				} else {
					b.WriteString(escape(u.Auth, achar))
				}
			}
			b.WriteByte('@')
		}
		b.WriteString(u.Host)
		if u.Port != "" {
			b.WriteByte(':')
			b.WriteString(u.Port)
		}
		if u.Mailbox != "" {
			b.WriteByte('/')
		}
	} else if u.AbsPath {
		b.WriteByte('/')
	}
	param := false // a ";" parameter was written
	if u.Mailbox != "" {
		b.WriteString(escapeMailbox(u.Mailbox, !u.Server && !u.AbsPath))
		if u.UIDValidity != 0 {
			b.WriteString(";UIDVALIDITY=")
			b.WriteString(strconv.FormatUint(uint64(u.UIDValidity), 10))
		}
		if u.HasSearch {
			b.WriteByte('?')
			b.WriteString(escape(u.Search, bchar))
		}
		param = true
	}
	if u.UID != 0 {
		if param {
			b.WriteByte('/')
		}
		b.WriteString(";UID=")
		b.WriteString(strconv.FormatUint(uint64(u.UID), 10))
		param = true
	}
	if u.Section != "" {
		if param {
			b.WriteByte('/')
		}
		b.WriteString(";SECTION=")
		b.WriteString(escape(u.Section, bchar))
		param = true
	}
	if u.Partial != nil {
		if param {
			b.WriteByte('/')
		}
		b.WriteString(";PARTIAL=")
		b.WriteString(strconv.FormatUint(uint64(u.Partial.Offset), 10))
		if u.Partial.Length != 0 {
			b.WriteByte('.')
			b.WriteString(strconv.FormatUint(uint64(u.Partial.Length), 10))
		}
	}
	if !u.Expire.IsZero() {
		b.WriteString(";EXPIRE=")
		b.WriteString(u.Expire.Format(time.RFC3339Nano))
	}
	if u.AccessType != "" {
		b.WriteString(";URLAUTH=")
		b.WriteString(u.AccessType)
		if u.AccessType == "submit" || u.AccessType == "user" {
			b.WriteByte('+')
			b.WriteString(escape(u.AccessUser, achar))
		}
		if u.Mechanism != "" {
			b.WriteByte(':')
			b.WriteString(u.Mechanism)
			b.WriteByte(':')
			b.WriteString(u.Token)
		}
	}
	return b.String()
}

// Resolve returns the absolute URL that u names relative to base (RFC
// 5092 7.1, RFC 3986 5.2): a URL naming a server is itself; "/mailbox"
// takes base's server; "mailbox" also replaces the last level of base's
// mailbox; ";UID=" takes base's mailbox, ";SECTION=" its message,
// ";PARTIAL=" its section. ErrNoBase when base lacks what u leaves out.
func (u *URL) Resolve(base *URL) (*URL, error) {
	if u.Server {
		return u, nil
	}
	r := *u
	r.Scheme, r.Server, r.AbsPath = base.Scheme, base.Server, false
	r.User, r.Auth, r.Host, r.Port = base.User, base.Auth, base.Host, base.Port
	switch {
	case u.AbsPath || u.Mailbox != "":
		if !u.AbsPath {
			if i := strings.LastIndexByte(base.Mailbox, '/'); i >= 0 {
				r.Mailbox = base.Mailbox[:i+1] + u.Mailbox
			}
		}
		return &r, nil
	case base.Mailbox == "":
		return nil, ErrNoBase
	}
	r.Mailbox, r.UIDValidity = base.Mailbox, base.UIDValidity
	if u.UID != 0 {
		return &r, nil
	}
	if base.UID == 0 {
		return nil, ErrNoBase
	}
	r.UID = base.UID
	if u.Section != "" {
		return &r, nil
	}
	r.Section = base.Section
	return &r, nil
}

// escapeMailbox escapes a mailbox name for a URL's path: a leading "/"
// too, which would make the path start with "//" or "/" (RFC 3986 4.2),
// and in a relative-path URL the ":"s of its first level, which would
// make "imap:x" a scheme.
func escapeMailbox(name string, relative bool) string {
	s := escape(name, bchar)
	if strings.HasPrefix(s, "/") {
		s = "%2F" + s[1:]
	}
	if relative {
		first, rest, found := strings.Cut(s, "/")
		s = strings.ReplaceAll(first, ":", "%3A")
		if found {
			s += "/" + rest
		}
	}
	return s
}
