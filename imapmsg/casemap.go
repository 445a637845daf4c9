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
// forms are equal octet for octet, ordered as those octets are, and one
// contains the other when its canonical form does (RFC 5051 2: the
// operations are i;octet's on the canonical forms). Bytes that are not
// valid UTF-8 are kept as they are. SORT, THREAD and SEARCH compare
// strings this way (RFC 5255 4.4, I18NLEVEL=1).
func Casemap(s string) string {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf && !('a' <= s[i] && s[i] <= 'z') {
		i++
	}
	if i == len(s) {
		return s // ASCII without lower case letters: its own form
	}
	return string(appendCasemap(make([]byte, 0, len(s)+8), s))
}

// appendCasemap appends the Casemap form of s to dst. ASCII, most of
// mail, takes a fast path; runs of other characters are titlecased
// and decomposed together. Decomposition is per character except for
// the reordering of combining marks, so mapping a text in pieces that
// end on character boundaries gives its whole mapping unless a piece
// ends inside a run of combining marks.
func appendCasemap[S string | []byte](dst []byte, s S) []byte {
	var run []byte // titlecased non-ASCII text awaiting NFKD
	var buf [16]byte
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if len(run) > 0 {
				dst, run = norm.NFKD.Append(dst, run...), run[:0]
			}
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		// At most 4 bytes to decode: the conversion stays on the stack.
		r, n := utf8.DecodeRune([]byte(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && n == 1 {
			if len(run) > 0 {
				dst, run = norm.NFKD.Append(dst, run...), run[:0]
			}
			dst = append(dst, c)
			i++
			continue
		}
		if run == nil {
			run = buf[:0]
		}
		run = utf8.AppendRune(run, unicode.ToTitle(r))
		i += n
	}
	if len(run) > 0 {
		dst = norm.NFKD.Append(dst, run...)
	}
	return dst
}
