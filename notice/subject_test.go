package notice

import (
	"strings"
	"testing"
)

func TestSubject(t *testing.T) {
	tests := []struct {
		user, mailbox, want string
	}{
		{"alice", "INBOX", "dormouse.notice.alice.INBOX"},
		{"alice", "inbox", "dormouse.notice.alice.INBOX"},
		{"alice", "Inbox/Sub", "dormouse.notice.alice.INBOX_2fSub"},
		{"alice", "", "dormouse.notice.alice._"},
		{"bob@example.org", "Archive/2026", "dormouse.notice.bob_40example_2eorg.Archive_2f2026"},
		{"a.b", "*", "dormouse.notice.a_2eb._2a"},
		{"x y", ">", "dormouse.notice.x_20y._3e"},
		{"_", "_", "dormouse.notice._5f._5f"},
		{"jörg", "Entwürfe", "dormouse.notice.j_c3_b6rg.Entw_c3_bcrfe"},
	}
	for _, tc := range tests {
		got := Subject(tc.user, tc.mailbox)
		if got != tc.want {
			t.Errorf("Subject(%q, %q) = %q, want %q", tc.user, tc.mailbox, got, tc.want)
		}
		u, m, ok := ParseSubject(got)
		wantBox := tc.mailbox
		if strings.EqualFold(wantBox, "inbox") || strings.HasPrefix(strings.ToLower(wantBox), "inbox/") {
			wantBox = "INBOX" + wantBox[5:]
		}
		if !ok || u != tc.user || m != wantBox {
			t.Errorf("ParseSubject(%q) = %q, %q, %v; want %q, %q", got, u, m, ok, tc.user, wantBox)
		}
		if us := UserSubject(tc.user); !strings.HasPrefix(got, strings.TrimSuffix(us, ">")) {
			t.Errorf("UserSubject(%q) = %q does not match %q", tc.user, us, got)
		}
	}
}

func TestParseSubjectRejects(t *testing.T) {
	for _, s := range []string{
		"", "dormouse.notice", "dormouse.notice.alice", "other.notice.alice.INBOX",
		"dormouse.notice._.INBOX",       // no user
		"dormouse.notice.alice.INBOX.x", // a token with '.'
		"dormouse.notice.alice._6",      // short escape
		"dormouse.notice.alice._zz",     // not hex
		"dormouse.notice.alice._41",     // an escaped plain byte: not Token's
		"dormouse.notice.alice._2F",     // upper-case hex: not Token's
		"dormouse.notice.alice.IN BOX",  // a space
		"dormouse.notice.alice.",        // empty token
	} {
		if u, m, ok := ParseSubject(s); ok {
			t.Errorf("ParseSubject(%q) = %q, %q, true; want false", s, u, m)
		}
	}
}

// FuzzToken checks that every name makes a NATS-safe token that parses
// back to it, so that two names never share a subject.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"", "alice", "INBOX", "a.b*c>d e", "_", "_5f", "jörg/Entwürfe", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		tok := Token(name)
		if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n") {
			t.Fatalf("Token(%q) = %q: not a NATS token", name, tok)
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; !plainByte(c) && c != '_' {
				t.Fatalf("Token(%q) = %q: byte %q", name, tok, c)
			}
		}
		back, ok := ParseToken(tok)
		if !ok || back != name {
			t.Fatalf("ParseToken(Token(%q)) = %q, %v", name, back, ok)
		}
		// A token that parses is Token's own: parsing is injective too.
		if n2, ok := ParseToken(name); ok && Token(n2) != name {
			t.Fatalf("ParseToken(%q) = %q, whose token is %q", name, n2, Token(n2))
		}
	})
}
