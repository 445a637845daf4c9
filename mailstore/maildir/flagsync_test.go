package maildir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// copyUser copies a user's folder as it is on disk (index, marker and
// Maildir) to a new root: what a new process finds after this one died,
// the kernel having kept every write.
func copyUser(t *testing.T, root, user string) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join(root, "users", user)
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, "users", user, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestFlagSyncDelayed: under delayed flag sync an APPEND and a STORE
// leave the index marked unsynced until the delay passes; an index left marked by a
// process that died in the same boot keeps every change, and one left
// marked when the machine stopped (another boot id) is rebuilt from the
// Maildir with a new UIDVALIDITY, its messages (the one appended
// last too) and system flags kept.
func TestFlagSyncDelayed(t *testing.T) {
	ctx := context.Background()
	s, root := testStore(t, Options{FlagSyncDelay: time.Hour})
	u := testUser(t, s, "alice")
	mb := testMailbox(t, u, "INBOX")
	mustAppend(t, mb, msg("a"))
	marker := filepath.Join(root, "users", "alice", unsyncedFile)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker after a delayed APPEND: %v", err)
	}
	if err := mb.(*mailboxHandle).u.syncDelayed(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker after the sync: %v", err)
	}
	mustAppend(t, mb, msg("b"))
	if _, _, err := mb.StoreFlags(ctx, []uint32{1}, mailstore.FlagsAdd, []string{`\Seen`, "$Label1"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker after a delayed STORE: %v", err)
	}
	uidValidity := mb.UIDValidity()

	t.Run("process died", func(t *testing.T) {
		s2, err := Open(copyUser(t, root, "alice"), Options{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		m2 := testMailbox(t, testUser(t, s2, "alice"), "INBOX")
		if m2.UIDValidity() != uidValidity {
			t.Errorf("UIDVALIDITY %d, want %d kept", m2.UIDValidity(), uidValidity)
		}
		snap, err := m2.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Messages.Len() != 2 || !hasFlag(snap.Messages.At(0).Flags, `\Seen`) || !hasFlag(snap.Messages.At(0).Flags, "$Label1") {
			t.Errorf("messages after the restart: %+v", snap.Messages)
		}
		if _, err := os.Stat(filepath.Join(s2.root, "users", "alice", unsyncedFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("marker left after the restart synced the index: %v", err)
		}
	})

	t.Run("machine stopped", func(t *testing.T) {
		s2, err := Open(copyUser(t, root, "alice"), Options{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		s2.bootID = func() string { return "another boot" }
		m2 := testMailbox(t, testUser(t, s2, "alice"), "INBOX")
		if m2.UIDValidity() <= uidValidity {
			t.Errorf("UIDVALIDITY %d, want above %d: the index was not rebuilt", m2.UIDValidity(), uidValidity)
		}
		snap, err := m2.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Messages.Len() != 2 {
			t.Fatalf("%d messages after the rebuild, want 2", snap.Messages.Len())
		}
		seen := 0
		for _, m := range snap.Messages.Messages() {
			if hasFlag(m.Flags, `\Seen`) {
				seen++
			}
		}
		if seen != 1 {
			t.Errorf("%d messages \\Seen after the rebuild, want 1 (from the file name)", seen)
		}
	})
}

// TestFlagSyncDelayedSyncs: the delay passes, the index is synced and its
// marker removed; closing the store syncs a dirty index too.
func TestFlagSyncDelayedSyncs(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		delay time.Duration
	}{{"timer", 20 * time.Millisecond}, {"close", time.Hour}} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			s, err := Open(root, Options{FlagSyncDelay: c.delay, Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			u, err := s.User(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			mb, err := u.Mailbox(ctx, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, mb, msg("a"))
			if _, _, err := mb.StoreFlags(ctx, []uint32{1}, mailstore.FlagsAdd, []string{`\Flagged`}, 0); err != nil {
				t.Fatal(err)
			}
			if c.name == "close" {
				mb.Close()
				u.Close()
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			marker := filepath.Join(root, "users", "alice", unsyncedFile)
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err := os.Stat(marker)
				if errors.Is(err, os.ErrNotExist) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("marker still there: %v", err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if c.name == "timer" {
				mb.Close()
				u.Close()
			}
		})
	}
}

// TestFlagSyncDelayedKeepsMarker: while changes go on, the background
// sync (syncTick) fdatasyncs the index and keeps its marker, so that no
// flag change waits for the marker to be written again; a tick that finds
// no change since the one before removes it. The delay is an hour, so
// only the test's calls tick.
func TestFlagSyncDelayedKeepsMarker(t *testing.T) {
	ctx := context.Background()
	s, root := testStore(t, Options{FlagSyncDelay: time.Hour})
	u := testUser(t, s, "alice")
	mb := testMailbox(t, u, "INBOX")
	us := mb.(*mailboxHandle).u
	mustAppend(t, mb, msg("a"))
	marker := filepath.Join(root, "users", "alice", unsyncedFile)
	first, err := os.Stat(marker)
	if err != nil {
		t.Fatalf("no marker after a delayed APPEND: %v", err)
	}
	for i, fl := range []string{`\Seen`, `\Flagged`, `\Answered`} {
		us.syncTick()
		fi, err := os.Stat(marker)
		if err != nil {
			t.Fatalf("tick %d, after a change: marker gone (%v); the next change would write it again", i+1, err)
		}
		if !os.SameFile(first, fi) {
			t.Fatalf("tick %d: the marker was written again", i+1)
		}
		if _, _, err := mb.StoreFlags(ctx, []uint32{1}, mailstore.FlagsAdd, []string{fl}, 0); err != nil {
			t.Fatal(err)
		}
		fi, err = os.Stat(marker)
		if err != nil || !os.SameFile(first, fi) {
			t.Fatalf("STORE %d wrote the marker again (%v)", i+1, err)
		}
	}
	us.syncTick() // syncs the last STORE; the marker stays
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("marker gone with a change not yet covered by a tick: %v", err)
	}
	us.syncTick() // nothing since: idle
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker after an idle tick: %v", err)
	}
	// The next change marks the index again.
	if _, _, err := mb.StoreFlags(ctx, []uint32{1}, mailstore.FlagsRemove, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker after a STORE on a clean index: %v", err)
	}
	s2, err := Open(copyUser(t, root, "alice"), Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	m2 := testMailbox(t, testUser(t, s2, "alice"), "INBOX")
	if m2.UIDValidity() != mb.UIDValidity() {
		t.Fatalf("UIDVALIDITY %d after the process died, want %d", m2.UIDValidity(), mb.UIDValidity())
	}
}
