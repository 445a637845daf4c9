package maildir

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCleanTmp leaves files in the tmp/ of INBOX and of a subfolder as a
// killed writer leaves them, then writes one more (a live delivery), and
// checks that CleanTmp with a cutoff between the two removes the leftovers
// only, and not a message stored before.
func TestCleanTmp(t *testing.T) {
	s, root := testStore(t, Options{})
	u := testUser(t, s, "alice")
	inbox := testMailbox(t, u, "INBOX")
	mustAppend(t, inbox, msg("kept"))
	md := filepath.Join(root, "users", "alice", "Maildir")
	leftovers := []string{
		filepath.Join(md, "tmp", "1700000000.M1P99Q1.host"),
		filepath.Join(md, ".Sent", "tmp", "1700000000.M2P99Q2.host"),
	}
	for _, p := range leftovers {
		if err := os.WriteFile(p, []byte("Subject: partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		// An old INTERNALDATE as mtime does not make a file old.
		old := time.Now().Add(-100 * time.Hour)
		os.Chtimes(p, old, old)
	}
	// The last leftover touched last (its Chtimes changed its ctime).
	fi, err := os.Stat(leftovers[len(leftovers)-1])
	if err != nil {
		t.Fatal(err)
	}
	// The live file: written once the file clock has moved past the
	// leftovers', so that a cutoff falls between them.
	live := filepath.Join(md, "tmp", "live")
	var cutoff time.Time
	for {
		if err := os.WriteFile(live, []byte("Subject: being written"), 0o600); err != nil {
			t.Fatal(err)
		}
		lfi, err := os.Stat(live)
		if err != nil {
			t.Fatal(err)
		}
		if cutoff = lastTouched(lfi); cutoff.After(lastTouched(fi)) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	removed, err := s.CleanTmp(cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if removed != len(leftovers) {
		t.Errorf("removed %d files, want %d", removed, len(leftovers))
	}
	for _, p := range leftovers {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("leftover %s kept (%v)", p, err)
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live file removed: %v", err)
	}
	if n := messageCount(t, inbox); n != 1 {
		t.Errorf("INBOX holds %d messages, want 1", n)
	}
	// With the real rule nothing recent goes.
	if removed, err := s.CleanTmp(time.Now().Add(-TmpMaxAge)); err != nil || removed != 0 {
		t.Errorf("CleanTmp(36 h ago) removed %d, %v; want 0", removed, err)
	}
}
