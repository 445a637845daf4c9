package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeliverNamesDetailsAndSize: `dormouse deliver` resolves USER as LMTP
// does (case-insensitively, with the recipient delimiter and, when
// configured, the detail mailbox) and refuses a message over
// limits.max_literal with EX_DATAERR, storing nothing, and that --mailbox spells a child of INBOX
// in any case. `user add` refuses a name that differs from
// an existing one only in case.
func TestDeliverNamesDetailsAndSize(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "pw")
	if code, _, _ := runDormouse(t, "pw2\n", "user", "add", "--data", data, "ALICE"); code == 0 {
		t.Error("user add ALICE succeeded while alice exists")
	}
	conf := filepath.Join(data, "detail.toml")
	if err := os.WriteFile(conf, []byte("[limits]\nmax_literal = 2048\n[lmtp]\nsave_to_detail_mailbox = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	small := "Subject: s\n\nsmall\n"
	big := "Subject: big\n\n" + strings.Repeat("x", 2048) + "\n"
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		{"upper case", []string{"deliver", "--data", data, "ALICE"}, small, 0},
		{"detail, detail mailbox off", []string{"deliver", "--data", data, "alice+Archive"}, small, 0},
		{"detail into its mailbox", []string{"deliver", "--data", data, "--config", conf, "Alice+Archive"}, small, 0},
		{"detail with no such mailbox", []string{"deliver", "--data", data, "--config", conf, "alice+Nope"}, small, 0},
		{"unknown user with detail", []string{"deliver", "--data", data, "carol+Archive"}, small, 67},
		{"over max_literal", []string{"deliver", "--data", data, "--config", conf, "alice"}, big, 65},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runDormouse(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
		})
	}
	count := func(dir string) int {
		t.Helper()
		n := 0
		for _, sub := range []string{"new", "tmp"} {
			es, err := os.ReadDir(filepath.Join(data, "users", "alice", "Maildir", dir, sub))
			if err != nil {
				t.Fatal(err)
			}
			n += len(es)
		}
		return n
	}
	if n := count(""); n != 3 {
		t.Errorf("INBOX holds %d messages, want 3", n)
	}
	if n := count(".Archive"); n != 1 {
		t.Errorf("Archive holds %d messages, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(data, "users", "ALICE")); !os.IsNotExist(err) {
		t.Errorf("a folder for ALICE: %v", err)
	}

	// --mailbox names a child of INBOX in any case, as IMAP does
	// (mailstore.CanonicalName): the store's folder is .INBOX.Sub.
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(data, "users", "alice", "Maildir", ".INBOX.Sub", sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, errOut := runDormouse(t, small, "deliver", "--data", data, "--mailbox", "Inbox/Sub", "alice"); code != 0 || errOut != "" {
		t.Errorf("deliver --mailbox Inbox/Sub: exit %d, stderr %q", code, errOut)
	}
	if n := count(".INBOX.Sub"); n != 1 {
		t.Errorf("INBOX/Sub holds %d messages, want 1", n)
	}
	if n := count(""); n != 3 {
		t.Errorf("INBOX holds %d messages after --mailbox Inbox/Sub, want 3", n)
	}
}
