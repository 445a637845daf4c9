package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFixtureBuild checks that both roots get the same users and messages,
// as hard links of one file each.
func TestFixtureBuild(t *testing.T) {
	dir := t.TempDir()
	f := fixture{IdleUsers: 3, IdleFmt: "u%d", ActiveUsers: 2, ActiveFmt: "a%d", ActiveMsgs: 5, SyncUser: "s", SyncMsgs: 9, Password: "pw"}
	roots := []string{filepath.Join(dir, "one", "users"), filepath.Join(dir, "two", "users")}
	if _, err := f.build(roots); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"u0": 0, "u2": 0, "a0": 5, "a1": 5, "s": 9}
	for user, n := range want {
		var inodes [2]map[uint64]bool
		for i, r := range roots {
			ents, err := os.ReadDir(filepath.Join(r, user, "Maildir", "cur"))
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != n {
				t.Errorf("%s in %s: %d messages, want %d", user, r, len(ents), n)
			}
			inodes[i] = map[uint64]bool{}
			for _, e := range ents {
				if !strings.Contains(e.Name(), ",S=") || !strings.Contains(e.Name(), ":2,") {
					t.Errorf("name %q lacks S= or :2,", e.Name())
				}
				st, err := os.Stat(filepath.Join(r, user, "Maildir", "cur", e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				inodes[i][st.Sys().(*syscall.Stat_t).Ino] = true
			}
		}
		for ino := range inodes[0] {
			if !inodes[1][ino] {
				t.Errorf("%s: inode %d only in the first root", user, ino)
			}
		}
	}
	pw := string(f.passwdFile())
	if got := strings.Count(pw, "\n"); got != 6 || !strings.Contains(pw, "a1:{PLAIN}pw::::::\n") {
		t.Errorf("passwd file:\n%s", pw)
	}
}

func TestRenderDovecotConf(t *testing.T) {
	c := renderDovecotConf("/x/base", 22400, "mailer", "2s", nil)
	for _, want := range []string{"port = 22400", "imap_hibernate_timeout = 2s", "uid=mailer", "base_dir = /x/base/run", "address = 127.0.0.1"} {
		if !strings.Contains(c, want) {
			t.Errorf("rendered config lacks %q", want)
		}
	}
	if strings.Contains(c, "@") {
		t.Errorf("placeholder left in the rendered config")
	}
	if strings.Contains(c, "-dovecot-set") {
		t.Errorf("extra settings section without -dovecot-set")
	}
	c = renderDovecotConf("/x/base", 22400, "mailer", "2s", []string{"mail_fsync = always", "mail_debug = no"})
	if !strings.HasSuffix(c, "\nmail_fsync = always\nmail_debug = no\n") {
		t.Errorf("extra settings not at the end:\n%s", c[max(len(c)-200, 0):])
	}
}
