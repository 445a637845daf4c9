package imapurl

import (
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, that what it accepts writes
// back (String) to a URL that parses to the same parts, and that the
// canonical form is a fixed point.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038",
		"imap://;AUTH=*@h/gray%20council?SUBJECT%20shadows",
		"imap://[::1]:1143/a%2Fb;UIDVALIDITY=3/;UID=4/;SECTION=HEADER.FIELDS%20(To)/;PARTIAL=0.10",
		"//h/x;UIDVALIDITY=1?ALL",
		";UID=4/;PARTIAL=10",
		"a//;UID=1;EXPIRE=2026-12-07T12:00:00.5+01:00;URLAUTH=user+%3A",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse(%q): error %T", s, err)
			}
			return
		}
		canon := u.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) ok, its String %q: %v", s, canon, err)
		}
		a, b := *u, *again
		a.Rump, b.Rump = "", ""
		if !a.Expire.Equal(b.Expire) {
			t.Fatalf("EXPIRE changed through %q: %v, %v", canon, a.Expire, b.Expire)
		}
		a.Expire = b.Expire
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip through %q:\n%+v\n%+v", canon, a, b)
		}
		if c := again.String(); c != canon {
			t.Fatalf("String not a fixed point: %q, then %q", canon, c)
		}
		if (u.AccessType != "") != (u.Rump != "") {
			t.Fatalf("Parse(%q): URLAUTH %q with rump %q", s, u.AccessType, u.Rump)
		}
	})
}
