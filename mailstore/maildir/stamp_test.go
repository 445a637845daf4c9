package maildir

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// TestStamps: each step of a user's life either changes the index stamp
// or the folder stamp (mailstore.Stamper) or leaves them as they were,
// and a stamp is read without opening the index: a closed index stays
// closed.
func TestStamps(t *testing.T) {
	s, root := testStore(t, Options{NoSync: true})
	s.linger = 0
	ctx := context.Background()
	if _, ok := s.IndexStamp("nobody"); ok {
		t.Error("index stamp of a user without an index")
	}
	if _, ok := s.IndexStamp("../x"); ok {
		t.Error("index stamp of an invalid user name")
	}
	maildir := filepath.Join(root, "users", "alice", "Maildir")
	user := func(fn func(u mailstore.User, m mailstore.Mailbox)) {
		u, err := s.User(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		m, err := u.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		fn(u, m)
	}
	user(func(u mailstore.User, m mailstore.Mailbox) { mustAppend(t, m, msg("first")) })
	steps := []struct {
		name           string
		do             func()
		index, folders bool // the stamps that must change
	}{
		{"nothing", func() {}, false, false},
		{"reads", func() {
			user(func(u mailstore.User, m mailstore.Mailbox) {
				if _, err := m.ChangesSince(ctx, 0); err != nil {
					t.Fatal(err)
				}
				if _, err := u.Status(ctx, "INBOX"); err != nil {
					t.Fatal(err)
				}
			})
		}, false, false},
		{"append", func() { user(func(u mailstore.User, m mailstore.Mailbox) { mustAppend(t, m, msg("second")) }) }, true, true},
		{"flag change", func() {
			user(func(u mailstore.User, m mailstore.Mailbox) {
				if _, _, err := m.StoreFlags(ctx, []uint32{1}, mailstore.FlagsAdd, []string{`\Seen`}, 0); err != nil {
					t.Fatal(err)
				}
			})
		}, true, true},
		{"quota limits set", func() {
			user(func(u mailstore.User, m mailstore.Mailbox) {
				if err := u.(mailstore.QuotaUser).SetQuotaLimits(ctx, &mailstore.QuotaLimits{Messages: 9}); err != nil {
					t.Fatal(err)
				}
			})
		}, true, false},
		{"delivery by another program into Trash", func() {
			if err := os.WriteFile(filepath.Join(maildir, ".Trash", "new", "1.other:2,"), []byte(msg("x")), 0o600); err != nil {
				t.Fatal(err)
			}
		}, false, true},
		{"mailbox folder made by another program", func() {
			if err := makeMaildir(filepath.Join(maildir, ".Other"), true, true); err != nil {
				t.Fatal(err)
			}
		}, false, true},
		{"index replaced", func() {
			path := filepath.Join(root, "users", "alice", indexFile)
			if err := os.Rename(path, path+".aside"); err != nil {
				t.Fatal(err)
			}
			user(func(u mailstore.User, m mailstore.Mailbox) {})
		}, true, false},
	}
	for _, st := range steps {
		waitClosed(t, s, "alice")
		i0, ok1 := s.IndexStamp("alice")
		f0, ok2 := s.FolderStamp("alice")
		s.mu.Lock()
		opened := s.users["alice"] != nil
		s.mu.Unlock()
		if opened {
			t.Fatalf("%s: reading the stamps opened the index", st.name)
		}
		st.do()
		i1, ok3 := s.IndexStamp("alice")
		f1, ok4 := s.FolderStamp("alice")
		if !ok1 || !ok2 || !ok3 || !ok4 {
			t.Fatalf("%s: stamps not read", st.name)
		}
		if (i0 != i1) != st.index || (f0 != f1) != st.folders {
			t.Errorf("%s: index stamp %v → %v, folder stamp %v → %v; want changed %v, %v", st.name, i0, i1, f0, f1, st.index, st.folders)
		}
	}
}

// waitClosed waits until user's index has closed (linger 0).
func waitClosed(t *testing.T, s *Store, user string) {
	t.Helper()
	for range 1000 {
		s.mu.Lock()
		open := s.users[user] != nil
		s.mu.Unlock()
		if !open {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("index of %s still open", user)
}

// TestStampAfterAnnouncement: a stamp read once a delivery was announced
// early, before its commit, is the commit's, as every reader of the index
// reads the announced change committed (waitAnnounced). A stamp read
// then used to be the one before the commit: imapserver's keepalive memo,
// kept at that stamp, answered a sleeper's UID FETCH without the delivery
// another session had just been told of (TestNewMailDuringBodyFetch failed
// so about once in 20 runs under -race).
func TestStampAfterAnnouncement(t *testing.T) {
	var once sync.Once
	var announced func()
	s, root := testStore(t, Options{beforeMoves: func() { once.Do(func() { announced() }) }})
	u := testUser(t, s, "gus")
	m := testMailbox(t, u, "INBOX")
	mustAppend(t, m, msg("old"))
	w := watchEventsAll(t, s, "gus", "INBOX", true)
	before, ok := s.IndexStamp("gus")
	if !ok {
		t.Fatal("no index stamp")
	}
	// Between the announcement and the commit (the hook holds the
	// commit back): a stamp read now must wait for the commit. The hook
	// gives the read a moment to return early, which it must not.
	read := make(chan mailstore.Stamp, 1)
	announced = func() {
		go func() {
			st, _ := s.IndexStamp("gus")
			read <- st
		}()
		sleepMs(200)
	}
	sleepMs(50) // the append's events are applied
	w.drain()
	md := filepath.Join(root, "users/gus/Maildir")
	if err := os.WriteFile(filepath.Join(md, "tmp", "1700000000.a.host"), []byte(msg("new")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(md, "tmp", "1700000000.a.host"), filepath.Join(md, "new", "1700000000.a.host")); err != nil {
		t.Fatal(err)
	}
	if ev := w.wait(t, mailstore.MessagesAdded, 5*time.Second); ev.Early == nil {
		t.Fatalf("event %+v, want the early announcement", ev)
	}
	w.wait(t, mailstore.MessagesAdded, 5*time.Second) // committed
	after, _ := s.IndexStamp("gus")
	if after == before {
		t.Fatal("the delivery did not change the stamp")
	}
	select {
	case got := <-read:
		if got != after {
			t.Fatalf("stamp read after the announcement %v, want the commit's %v (before it: %v)", got, after, before)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stamp read after the announcement never returned")
	}
}
