package imapmsg

import (
	"net/mail"
	"strings"
	"time"
)

// dateLayouts are the shapes of broken Date headers seen in the wild,
// tried after the RFC 5322 3.3 forms net/mail accepts.
var dateLayouts = [...]string{
	"2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04:05",
	"2 Jan 06 15:04:05 -0700",
	"2 January 2006 15:04:05 -0700",
	"Jan 2 15:04:05 2006",
	"Jan 2 15:04:05 -0700 2006",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
	time.RFC3339,
}

// parseDate parses a Date header value leniently (RFC 5322 3.3 and
// obsolete 4.3 forms, comments, a missing or wrong day name, odd spacing);
// the zero time when nothing fits.
func parseDate(s string) time.Time {
	s = strings.Join(strings.Fields(stripComments(s)), " ")
	// Most mail writes RFC 5322's own form: one layout to try, rather
	// than the errors net/mail's tries of the others allocate first (a
	// tenth of deriving 100,000 messages' sort records). It gives what
	// net/mail gives (TestParseDateCommonForm).
	if t, err := time.Parse(time.RFC1123Z, s); err == nil {
		return t
	}
	if t, err := mail.ParseDate(s); err == nil {
		return t
	}
	// Drop the day name, whatever it is, and retry.
	if i := strings.IndexByte(s, ','); i >= 0 && i < 12 {
		s = strings.TrimSpace(s[i+1:])
	} else if f := strings.Fields(s); len(f) > 0 && len(f[0]) == 3 && isLetters(f[0]) && !isMonth(f[0]) {
		s = strings.Join(f[1:], " ")
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isMonth(s string) bool {
	_, err := time.Parse("Jan", s)
	return err == nil
}
