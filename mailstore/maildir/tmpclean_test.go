package maildir

import (
	"fmt"
	"os"
	"os/exec"
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
	// The leftovers' ctimes are now (Chtimes sets them): the newest of
	// them is what the cutoff must pass.
	var newest time.Time
	for _, p := range leftovers {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if lt := lastTouched(fi); lt.After(newest) {
			newest = lt
		}
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
		if cutoff = lastTouched(lfi); cutoff.After(newest) {
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

// TestCleanTmpDeadWriter checks that a file this server's naming gives,
// written by a process of this host that has exited, goes at once, while
// files of a running process, of another host and of another delivery
// agent wait for the 36-hour rule.
func TestCleanTmpDeadWriter(t *testing.T) {
	s, root := testStore(t, Options{})
	testMailbox(t, testUser(t, s, "alice"), "INBOX")
	tmp := filepath.Join(root, "users", "alice", "Maildir", "tmp")
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Skipf("no process to outlive: %v", err)
	}
	dead := exited.Process.Pid
	name := func(pid int, host string) string {
		return fmt.Sprintf("1700000000.M000001P%dQ1.%s", pid, host)
	}
	files := map[string]bool{ // name: removed
		name(dead, s.host):        true,
		name(os.Getpid(), s.host): false, // this process
		name(1, s.host):           false, // a running process
		name(dead, "elsewhere"):   false, // another host's writer
		"1700000000.12345_1.mda":  false, // another MDA's name
	}
	for n := range files {
		if err := os.WriteFile(filepath.Join(tmp, n), []byte("Subject: partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := s.CleanTmp(time.Now().Add(-TmpMaxAge))
	if err != nil {
		t.Fatal(err)
	}
	if removed != 1 {
		t.Errorf("removed %d files, want 1", removed)
	}
	for n, gone := range files {
		_, err := os.Stat(filepath.Join(tmp, n))
		if gone != os.IsNotExist(err) {
			t.Errorf("%s: removed %v, want %v (%v)", n, os.IsNotExist(err), gone, err)
		}
	}
}
