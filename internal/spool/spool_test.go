package spool

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestClean leaves a spool as processes leave it (one alive, one killed,
// an older version's files, a stranger's file) and checks that Clean
// removes exactly what no live process can be writing.
func TestClean(t *testing.T) {
	root := t.TempDir()
	mine, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	// Another live process: flock locks belong to an open file, so a
	// second Open in this process holds its folder as another would.
	other, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	write := func(path string, age time.Duration) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if age > 0 {
			then := time.Now().Add(-age)
			if err := os.Chtimes(path, then, then); err != nil {
				t.Fatal(err)
			}
		}
	}
	live := []string{
		filepath.Join(mine.Path(), "dormouse-literal-1"),
		filepath.Join(other.Path(), "lmtp-2.eml"),
		filepath.Join(root, "dormouse-literal-fresh"), // an older version writing now
		filepath.Join(root, "notes.txt"),              // not ours
	}
	for _, p := range live {
		write(p, 0)
	}
	write(filepath.Join(root, "notes.txt"), 48*time.Hour)
	dead := []string{
		filepath.Join(root, "proc-killed", "dormouse-literal-3"),
		filepath.Join(root, "proc-killed", "lmtp-4.eml"),
		filepath.Join(root, "dormouse-literal-old"),
		filepath.Join(root, "lmtp-old.eml"),
	}
	for _, p := range dead {
		write(p, 2*LegacyAge)
	}

	removed, err := Clean(root, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if removed != 3 { // proc-killed/ and the two old files
		t.Errorf("removed %d entries, want 3", removed)
	}
	for _, p := range live {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("live file removed: %v", err)
		}
	}
	for _, p := range dead {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("leftover %s kept (%v)", p, err)
		}
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(root)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{filepath.Base(mine.Path()), "dormouse-literal-fresh", "notes.txt"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("spool holds %q, want %q", names, want)
	}
}
