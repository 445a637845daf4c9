package maildir

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// TestRenameSeenInHalves: another program's flag change renames a
// message's file in cur/, which inotify reports as two events that the
// kernel queues one after the other, so a read of the queue can fall
// between them and the watcher applies the moved-from half alone, then
// the moved-to half (TestInotifyReadEnd). Either half alone finds the
// file on disk by its base name: the message keeps its UID and gets its
// flags at the first, and the second changes nothing; no expunge, no
// new message.
func TestRenameSeenInHalves(t *testing.T) {
	ctx := context.Background()
	s, root := testStore(t, Options{NoFolderWatch: true})
	m := testMailbox(t, testUser(t, s, "hana"), "INBOX")
	uid := mustAppend(t, m, msg("halves"))
	cur := filepath.Join(root, "users", "hana", "Maildir", "cur")
	names, _ := filepath.Glob(filepath.Join(cur, "*:2,"))
	if len(names) != 1 {
		t.Fatalf("files %v", names)
	}
	old := filepath.Base(names[0])
	renamed := old + "S"
	if err := os.Rename(names[0], filepath.Join(cur, renamed)); err != nil {
		t.Fatal(err)
	}
	u, err := s.acquire("hana")
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(u)
	for _, half := range []string{old, renamed} {
		evs, err := u.syncMailbox("INBOX", false, nil, []string{half})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Kind != mailstore.FlagsChanged || !slices.Equal(ev.UIDs, []uint32{uid}) {
				t.Errorf("half %q: event %+v, want at most a flag change of UID %d", half, ev, uid)
			}
		}
		snap, err := m.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Messages.Len() != 1 || snap.Messages.At(0).UID != uid || !slices.Equal(snap.Messages.At(0).Flags, []string{`\Seen`}) {
			t.Fatalf("after half %q: messages %+v, want UID %d with \\Seen", half, snap.Messages.Messages(), uid)
		}
	}
}
