package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestLMTPRecipientNames: LMTP recipients whose names are paths (or carry
// control bytes) are refused at RCPT with a 5xx, and deliver nothing
// anywhere: the only user folder is alice's, and it stays empty.
func TestLMTPRecipientNames(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	d := startDaemon(t, data)
	for _, rcpt := range []string{
		"../alice@example.org", "alice/../alice@example.org", "../../etc@example.org",
		"./alice@example.org", "/alice@example.org", "alice/.@example.org", "..@example.org",
		"../users/alice@example.org", "~alice@example.org", "alice/INBOX@example.org",
		filepath.Join(data, "users", "alice") + "@example.org",
	} {
		err := lmtpTry(d.lmtp, rcpt, "Subject: escape\r\n\r\nbody\r\n")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code < 500 {
			t.Errorf("RCPT %q: %v, want a 5xx refusal", rcpt, err)
		}
	}
	users, err := os.ReadDir(filepath.Join(data, "users"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Name() != "alice" {
			t.Errorf("a user folder %q was made", u.Name())
		}
	}
	for _, sub := range []string{"new", "cur"} {
		if got, _ := os.ReadDir(filepath.Join(data, "users", "alice", "Maildir", sub)); len(got) != 0 {
			t.Errorf("alice's %s/ holds %d messages", sub, len(got))
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(data)); len(entries) != 1 {
		t.Errorf("beside the data folder: %d entries, want only it", len(entries))
	}
}
