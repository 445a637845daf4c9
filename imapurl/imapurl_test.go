package imapurl

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParse: the forms of RFC 5092 and RFC 4467 parse into their parts,
// and write back in the canonical form.
func TestParse(t *testing.T) {
	tests := []struct {
		in    string
		want  URL
		canon string // String(); "" for in itself
	}{
		{in: "imap://minbari.example.org/gray-council;UIDVALIDITY=385759045/;UID=20/;PARTIAL=0.1024",
			want: URL{Scheme: true, Server: true, Host: "minbari.example.org", Mailbox: "gray-council", UIDValidity: 385759045, UID: 20, Partial: &Partial{0, 1024}}},
		{in: "IMAP://Michael@Minbari.Example.Org:143/users.*/;uid=20/;section=1.2",
			want:  URL{Scheme: true, Server: true, User: "Michael", Host: "minbari.example.org", Port: "143", Mailbox: "users.*", UID: 20, Section: "1.2"},
			canon: "imap://Michael@minbari.example.org:143/users.*/;UID=20/;SECTION=1.2"},
		{in: "imap://psicorp.example.org/~peter/%E6%97%A5%E6%9C%AC%E8%AA%9E/%E5%8F%B0%E5%8C%97",
			want:  URL{Scheme: true, Server: true, Host: "psicorp.example.org", Mailbox: "~peter/日本語/台北"},
			canon: "imap://psicorp.example.org/~peter/%E6%97%A5%E6%9C%AC%E8%AA%9E/%E5%8F%B0%E5%8C%97"},
		{in: "imap://;AUTH=*@minbari.example.org/gray%20council?SUBJECT%20shadows",
			want: URL{Scheme: true, Server: true, Auth: "*", Host: "minbari.example.org", Mailbox: "gray council", Search: "SUBJECT shadows", HasSearch: true}},
		{in: "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038",
			want: URL{Scheme: true, Server: true, User: "joe", Host: "example.com", Mailbox: "INBOX", UID: 20, Section: "1.2",
				AccessType: "submit", AccessUser: "fred", Mechanism: "INTERNAL", Token: "91354a473744909de610943775f92038",
				Rump: "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred"},
			canon: "imap://joe@example.com/INBOX/;UID=20/;SECTION=1.2;URLAUTH=submit+fred:INTERNAL:91354a473744909de610943775f92038"},
		{in: "imap://joe@example.com/inbox/Sent;UIDVALIDITY=7/;UID=3;EXPIRE=2026-12-07T12:00:00Z;URLAUTH=anonymous",
			want: URL{Scheme: true, Server: true, User: "joe", Host: "example.com", Mailbox: "INBOX/Sent", UIDValidity: 7, UID: 3,
				Expire: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), AccessType: "anonymous",
				Rump: "imap://joe@example.com/inbox/Sent;UIDVALIDITY=7/;UID=3;EXPIRE=2026-12-07T12:00:00Z;URLAUTH=anonymous"},
			canon: "imap://joe@example.com/INBOX/Sent;UIDVALIDITY=7/;UID=3;EXPIRE=2026-12-07T12:00:00Z;URLAUTH=anonymous"},
		{in: "imap://[::1]:1143/INBOX", want: URL{Scheme: true, Server: true, Host: "[::1]", Port: "1143", Mailbox: "INBOX"}},
		{in: "imap://host", want: URL{Scheme: true, Server: true, Host: "host"}},
		{in: "//host/a%2Fb%3Bc/;UID=1", want: URL{Server: true, Host: "host", Mailbox: "a/b;c", UID: 1}, canon: "//host/a/b%3Bc/;UID=1"},
		{in: "/Drafts/;UID=4/;SECTION=HEADER.FIELDS%20(From%20To)",
			want: URL{AbsPath: true, Mailbox: "Drafts", UID: 4, Section: "HEADER.FIELDS (From To)"}},
		{in: "Sent/;UID=4", want: URL{Mailbox: "Sent", UID: 4}},
		{in: ";UID=4/;PARTIAL=10", want: URL{UID: 4, Partial: &Partial{10, 0}}},
		{in: ";section=TEXT", want: URL{Section: "TEXT"}, canon: ";SECTION=TEXT"},
		{in: ";PARTIAL=1.2", want: URL{Partial: &Partial{1, 2}}},
		{in: "a//;UID=1", want: URL{Mailbox: "a/", UID: 1}},
	}
	for _, tc := range tests {
		u, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(*u, tc.want) {
			t.Errorf("Parse(%q) =\n%+v, want\n%+v", tc.in, *u, tc.want)
		}
		canon := tc.canon
		if canon == "" {
			canon = tc.in
		}
		if got := u.String(); got != canon {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, canon)
		}
	}
}

// TestParseBad: malformed URLs are refused with a reason.
func TestParseBad(t *testing.T) {
	tests := []struct{ in, reason string }{
		{"", "empty URL"},
		{"imap:host/INBOX", `without "//"`},
		{"imap://", "no host"},
		{"imap://@host/INBOX", "empty user"},
		{"imap://ho st/INBOX", "host"},
		{"imap://host:99999/INBOX", "port"},
		{"imap://host:x/INBOX", "port"},
		{"imap://[::1/INBOX", "IPv6"},
		{"imap://host/INBOX;UID=1", `"/" before`},
		{"imap://host/INBOX/;UID=0", "UID"},
		{"imap://host/INBOX/;UID=01", "UID"},
		{"imap://host/INBOX/;UID=4294967296", "UID"},
		{"imap://host/INBOX/;UID=1;SECTION=1", `"/" after UID`},
		{"imap://host/INBOX/;SECTION=1/;UID=1", "out of order"},
		{"imap://host/INBOX/;UID=1/;UID=2", "bad UID"},
		{"imap://host/INBOX/;UID=1;FOO=2", "unknown parameter"},
		{"imap://host/INBOX/;UID=1/;PARTIAL=x", "PARTIAL"},
		{"imap://host/INBOX/;UID=1/;PARTIAL=1.0", "PARTIAL"},
		{"imap://host/IN%ZZBOX/;UID=1", "escape"},
		{"imap://host/IN%FFBOX/;UID=1", "UTF-8"},
		{"imap://host/IN%01BOX/;UID=1", "Control"},
		{"imap://host/IN BOX/;UID=1", "not allowed in mailbox"},
		{"imap://host/INBOX/;UID=1;URLAUTH=root", "access"},
		{"imap://host/INBOX/;UID=1;URLAUTH=submit+", "empty access user"},
		{"imap://host/INBOX/;UID=1;URLAUTH=anonymous:INTERNAL:abc", "shorter"},
		{"imap://host/INBOX/;UID=1;URLAUTH=anonymous:INTERNAL:" + strings.Repeat("g", 32), "hexadecimal"},
		{"imap://host/INBOX/;UID=1;URLAUTH=anonymous:IN/T:" + strings.Repeat("a", 32), "mechanism"},
		{"imap://host/INBOX/;URLAUTH=anonymous", "needs a UID"},
		{"imap://host/INBOX/;UID=1;EXPIRE=tomorrow;URLAUTH=anonymous", "EXPIRE"},
		{"imap://host/INBOX/;UID=1;EXPIRE=2026-12-07T12:00:00Z", "EXPIRE without URLAUTH"},
		{";UIDVALIDITY=3", "UIDVALIDITY must follow"},
		{"x;UID=1", `"/" before`},
		{"imap://host/INBOX/;UID", "without value"},
	}
	for _, tc := range tests {
		u, err := Parse(tc.in)
		var ue *Error
		if err == nil || !errors.As(err, &ue) {
			t.Errorf("Parse(%q) = %+v, %v; want an *Error", tc.in, u, err)
			continue
		}
		if !strings.Contains(ue.Reason, tc.reason) {
			t.Errorf("Parse(%q): reason %q, want it to mention %q", tc.in, ue.Reason, tc.reason)
		}
	}
}

// TestResolve: relative URLs against a base, RFC 5092 7.1.
func TestResolve(t *testing.T) {
	base, err := Parse("imap://joe@host/Lists/go;UIDVALIDITY=9/;UID=5/;SECTION=2")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ rel, want string }{
		{"imap://other/INBOX/;UID=1", "imap://other/INBOX/;UID=1"},
		{"/INBOX/;UID=1", "imap://joe@host/INBOX/;UID=1"},
		{"rust/;UID=1", "imap://joe@host/Lists/rust/;UID=1"},
		{";UID=7", "imap://joe@host/Lists/go;UIDVALIDITY=9/;UID=7"},
		{";SECTION=1", "imap://joe@host/Lists/go;UIDVALIDITY=9/;UID=5/;SECTION=1"},
		{";PARTIAL=3.4", "imap://joe@host/Lists/go;UIDVALIDITY=9/;UID=5/;SECTION=2/;PARTIAL=3.4"},
	}
	for _, tc := range tests {
		rel, err := Parse(tc.rel)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.rel, err)
		}
		got, err := rel.Resolve(base)
		if err != nil || got.String() != tc.want {
			t.Errorf("%q resolved = %v, %v; want %q", tc.rel, got, err, tc.want)
		}
	}
	mboxOnly, _ := Parse("imap://joe@host/INBOX")
	sec, _ := Parse(";SECTION=1")
	if _, err := sec.Resolve(mboxOnly); !errors.Is(err, ErrNoBase) {
		t.Errorf(";SECTION= against a mailbox: %v, want ErrNoBase", err)
	}
	if _, err := sec.Resolve(&URL{}); !errors.Is(err, ErrNoBase) {
		t.Errorf(";SECTION= against nothing: %v, want ErrNoBase", err)
	}
}
