package imapmsg

import (
	"net/mail"
	"testing"
)

// TestParseDateCommonForm checks that the fast path for RFC 5322's own
// date form gives exactly what net/mail gives (instant and zone), and that
// dates it does not take still parse as before.
func TestParseDateCommonForm(t *testing.T) {
	for _, s := range []string{
		"Mon, 02 Jan 2006 15:04:05 -0700",
		"Tue, 02 Jan 2006 15:04:05 +0000", // wrong day name: ignored by both
		"Sun, 29 Feb 2004 23:59:59 +1400",
		"Thu, 01 Jan 1970 00:00:00 -0000",
		"Fri, 31 Dec 1999 12:00:00 +0530",
		"Wed, 05 Jan 2026 08:00:00 +0100",
	} {
		want, err := mail.ParseDate(s)
		if err != nil {
			t.Fatalf("net/mail refuses %q: %v", s, err)
		}
		got := parseDate(s)
		wn, wo := want.Zone()
		gn, gofs := got.Zone()
		if !got.Equal(want) || wn != gn || wo != gofs {
			t.Errorf("parseDate(%q) = %v, net/mail gives %v", s, got, want)
		}
	}
	for s, want := range map[string]string{
		"2 Jan 2006 15:04:05 -0700":             "2006-01-02T15:04:05-07:00",
		"Mon, 2 Jan 2006 15:04 -0700":           "2006-01-02T15:04:00-07:00",
		"Mon, 02 Jan 2006 15:04:05 -0700 (MST)": "2006-01-02T15:04:05-07:00",
		"Mon, 02 Jan 2006 15:04:05 GMT":         "2006-01-02T15:04:05Z",
	} {
		if got := parseDate(s).Format("2006-01-02T15:04:05Z07:00"); got != want {
			t.Errorf("parseDate(%q) = %s, want %s", s, got, want)
		}
	}
}
