package imapurl

import (
	"fmt"
	"strings"
)

// charSet says which bytes stand for themselves in a part of a URL.
type charSet func(c byte) bool

// isUnreserved: RFC 3986 2.3 unreserved.
func isUnreserved(c byte) bool { return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' }

// achar: RFC 5092 11, uchar / "&" / "=" / "~", uchar being unreserved,
// pct-encoded or sub-delims-sh ("!" "$" "'" "(" ")" "*" "+" ",").
func achar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte("!$'()*+,&=", c) >= 0
}

// bchar: RFC 5092 11, achar / ":" / "@" / "/".
func bchar(c byte) bool { return achar(c) || c == ':' || c == '@' || c == '/' }

func isAlnum(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// unescape decodes s, whose bytes must be in set or be %-escapes (RFC
// 3986 2.1); what names the part in errors.
func unescape(s string, set charSet, what string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty %s", what)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("bad %%-escape in %s", what)
			}
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case set(c):
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("character %q not allowed in %s", c, what)
		}
	}
	return b.String(), nil
}

// escape encodes s: bytes not in set become %-escapes (upper case, RFC
// 3986 2.1).
func escape(s string, set charSet) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; set(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}
