package maildir

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// TestHintWithoutFolderWatch turns folder watches off, drops messages into
// new/ as an MDA does, and checks that only a hint makes them events: the
// file named by the hint, then a rescan of the mailbox by a hint naming
// none. Bad hints are refused.
func TestHintWithoutFolderWatch(t *testing.T) {
	s, root := testStore(t, Options{NoFolderWatch: true})
	testUser(t, s, "alice")
	md := filepath.Join(root, "users", "alice", "Maildir")
	drop := func(name string) {
		t.Helper()
		tmp := filepath.Join(md, "tmp", name)
		if err := os.WriteFile(tmp, []byte(msg(name)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
			t.Fatal(err)
		}
	}

	// A watch rescans the mailbox in the background, as it would were
	// it watched: wait for it to find a first message, so that it is
	// over before the test drops more.
	drop("1699999999.P1Q1.mx")
	w := watchEvents(t, s, "alice", "INBOX")
	w.wait(t, mailstore.MessagesAdded, 10*time.Second)

	drop("1700000000.P1Q1.mx")
	// With watches on, the event comes within eventDeadline; off, it
	// does not come at all (waited for five times as long).
	select {
	case ev := <-w.ch:
		t.Fatalf("event without a hint: %+v", ev.Event)
	case <-time.After(5 * eventDeadline):
	}
	if err := s.Hint("alice", "inbox", "new", "1700000000.P1Q1.mx"); err != nil {
		t.Fatal(err)
	}
	ev := w.wait(t, mailstore.MessagesAdded, 10*time.Second)
	if ev.Mailbox != "INBOX" || len(ev.UIDs) != 1 || ev.UIDNext != ev.UIDs[0]+1 || ev.UIDValidity == 0 {
		t.Fatalf("event %+v", ev.Event)
	}

	drop("1700000001.P1Q1.mx")
	drop("1700000002.P1Q1.mx")
	if err := s.Hint("alice", "INBOX", "", ""); err != nil {
		t.Fatal(err)
	}
	if ev := w.wait(t, mailstore.MessagesAdded, 10*time.Second); len(ev.UIDs) != 2 {
		t.Fatalf("rescan found %v", ev.UIDs)
	}

	for _, h := range []struct{ user, mailbox, folder, name string }{
		{"../alice", "INBOX", "", ""},
		{"", "INBOX", "", ""},
		{"nobody", "INBOX", "", ""},
		{"alice", "a//b", "", ""},
		{"alice", "INBOX", "tmp", "x"},
		{"alice", "INBOX", "new", "../x"},
		{"alice", "INBOX", "new", ".hidden"},
		{"alice", "INBOX", "new", ""},
		{"alice", "INBOX", "", "x"},
	} {
		if err := s.Hint(h.user, h.mailbox, h.folder, h.name); err == nil {
			t.Errorf("Hint(%q, %q, %q, %q) accepted", h.user, h.mailbox, h.folder, h.name)
		}
	}
}
