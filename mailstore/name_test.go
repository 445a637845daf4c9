package mailstore

import "testing"

// TestCanonicalName pins the one INBOX rule every layer uses: INBOX is
// case-insensitive (RFC 9051 5.1) and so is the first level of a name under
// it; nothing else changes.
func TestCanonicalName(t *testing.T) {
	tests := []struct {
		in, want string
		inbox    bool
	}{
		{"INBOX", "INBOX", true},
		{"inbox", "INBOX", true},
		{"InBoX", "INBOX", true},
		{"INBOX/Sent", "INBOX/Sent", false},
		{"inbox/Sent", "INBOX/Sent", false},
		{"Inbox/a/inbox", "INBOX/a/inbox", false}, // only the first level
		{"inbox/", "INBOX/", false},               // trailing separator: the caller's business
		{"INBOXES", "INBOXES", false},
		{"inboxes", "inboxes", false},
		{"inbox.x", "inbox.x", false},
		{"inbo", "inbo", false},
		{"Archive/inbox", "Archive/inbox", false},
		{"", "", false},
		{"ınbox", "ınbox", false}, // dotless i: not ASCII "inbox"
	}
	for _, tt := range tests {
		if got := CanonicalName(tt.in); got != tt.want {
			t.Errorf("CanonicalName(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := IsInbox(tt.in); got != tt.inbox {
			t.Errorf("IsInbox(%q) = %v, want %v", tt.in, got, tt.inbox)
		}
	}
}

// TestCanonicalNameNoAlloc: the hibernator keys every event by this name,
// so an already canonical name must not allocate.
func TestCanonicalNameNoAlloc(t *testing.T) {
	for _, name := range []string{"INBOX", "INBOX/Sent", "Archive"} {
		if n := testing.AllocsPerRun(100, func() { _ = CanonicalName(name) }); n != 0 {
			t.Errorf("CanonicalName(%q) allocates %v times", name, n)
		}
	}
}
