package imapmsg

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Casemap returns the canonical form of s under the i;unicode-casemap
// collation (RFC 5051 2): each character mapped to its titlecase
// (UnicodeData's simple titlecase mapping), then the whole decomposed
// (NFKD). Two strings are equal under the collation when their canonical
// forms are equal octet for octet, and ordered as those octets are
// (RFC 5051 2, "compare ... using i;octet"). Bytes that are not valid
// UTF-8 are kept as they are, so such strings still compare as octets.
// SORT compares with it (RFC 5255 4.3, I18NLEVEL=1).
func Casemap(s string) string {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf && !('a' <= s[i] && s[i] <= 'z') {
		i++
	}
	if i == len(s) {
		return s // ASCII without lower case letters: its own form
	}
	return string(AppendCasemap(make([]byte, 0, len(s)+8), s))
}

// AppendCasemap appends Casemap(s) to dst.
func AppendCasemap(dst []byte, s string) []byte {
	var run []byte // titlecased non-ASCII text awaiting NFKD
	flush := func() {
		if len(run) > 0 {
			dst = norm.NFKD.Append(dst, run...)
			run = run[:0]
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			flush()
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			flush()
			dst = append(dst, c)
			i++
			continue
		}
		run = utf8.AppendRune(run, unicode.ToTitle(r))
		i += n
	}
	flush()
	return dst
}
