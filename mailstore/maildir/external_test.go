package maildir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/mailstore"
)

// eventDeadline is how fast a change made on disk must reach a watcher.
const eventDeadline = 100 * time.Millisecond

// TestExternalChanges makes changes with plain file operations, as an MDA,
// mutt or mbsync would, while a watcher waits, and checks that each becomes
// an event within 100 ms and the right index change.
func TestExternalChanges(t *testing.T) {
	tests := []struct {
		name   string
		do     func(t *testing.T, md string, m mailstore.Mailbox) // md: the INBOX Maildir
		kind   mailstore.EventKind
		verify func(t *testing.T, v *imapview.View)
	}{
		{
			name: "delivery into new",
			do: func(t *testing.T, md string, m mailstore.Mailbox) {
				tmp := filepath.Join(md, "tmp", "1700000000.P1Q1.mx")
				if err := os.WriteFile(tmp, []byte("Subject: mda\n\nhello\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, filepath.Join(md, "new", "1700000000.P1Q1.mx")); err != nil {
					t.Fatal(err)
				}
			},
			kind: mailstore.MessagesAdded,
			verify: func(t *testing.T, v *imapview.View) {
				last := v.Messages.At(v.Messages.Len() - 1)
				if last.UID != 2 || last.Size != int64(len("Subject: mda\r\n\r\nhello\r\n")) {
					t.Fatalf("new message %+v", last)
				}
			},
		},
		{
			name: "flag rename in cur",
			do: func(t *testing.T, md string, m mailstore.Mailbox) {
				names, _ := filepath.Glob(filepath.Join(md, "cur", "*:2,"))
				if len(names) != 1 {
					t.Fatalf("files %v", names)
				}
				if err := os.Rename(names[0], names[0]+"FS"); err != nil {
					t.Fatal(err)
				}
			},
			kind: mailstore.FlagsChanged,
			verify: func(t *testing.T, v *imapview.View) {
				if !reflect.DeepEqual(v.Messages.At(0).Flags, []string{`\Flagged`, `\Seen`}) {
					t.Fatalf("flags %v", v.Messages.At(0).Flags)
				}
			},
		},
		{
			name: "file removed",
			do: func(t *testing.T, md string, m mailstore.Mailbox) {
				names, _ := filepath.Glob(filepath.Join(md, "cur", "*"))
				if err := os.Remove(names[0]); err != nil {
					t.Fatal(err)
				}
			},
			kind: mailstore.MessagesExpunged,
			verify: func(t *testing.T, v *imapview.View) {
				if v.Messages.Len() != 0 {
					t.Fatalf("messages left %v", uidsOf(v.Messages.Messages()))
				}
			},
		},
		{
			name: "file put straight into cur by a sync tool",
			do: func(t *testing.T, md string, m mailstore.Mailbox) {
				tmp := filepath.Join(md, "tmp", "1700000001.mbsync")
				os.WriteFile(tmp, []byte(msg("sync")), 0o600)
				if err := os.Rename(tmp, filepath.Join(md, "cur", "1700000001.mbsync:2,S")); err != nil {
					t.Fatal(err)
				}
			},
			kind: mailstore.MessagesAdded,
			verify: func(t *testing.T, v *imapview.View) {
				last := v.Messages.At(v.Messages.Len() - 1)
				if last.UID != 2 || !reflect.DeepEqual(last.Flags, []string{`\Seen`}) {
					t.Fatalf("new message %+v", last)
				}
			},
		},
	}
	// With a long EventDelay, a change after a quiet spell must still
	// come at once: only the events that follow it are batched.
	for _, delay := range []time.Duration{0, 300 * time.Millisecond} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/delay=%v", tc.name, delay), func(t *testing.T) {
				externalChange(t, delay, tc.do, tc.kind, tc.verify)
			})
		}
	}
}

// externalChange runs one case of TestExternalChanges on a store whose
// EventDelay is delay (0: the default).
func externalChange(t *testing.T, delay time.Duration, do func(t *testing.T, md string, m mailstore.Mailbox),
	kind mailstore.EventKind, verify func(t *testing.T, v *imapview.View)) {
	s, root := testStore(t, Options{EventDelay: delay})
	u := testUser(t, s, "bob")
	m := testMailbox(t, u, "INBOX")
	mustAppend(t, m, msg("first"))
	md := filepath.Join(root, "users", "bob", "Maildir")
	v, err := imapview.Open(context.Background(), m, true)
	if err != nil {
		t.Fatal(err)
	}
	w := watchEvents(t, s, "bob", "INBOX")
	// Let the watch's first rescan run, and the batching window of the
	// setup's own file events end: it lasts one delay after the first,
	// and one more when events came during it.
	window := delay
	if window == 0 {
		window = 10 * time.Millisecond // the default
	}
	time.Sleep(20*time.Millisecond + 3*window)
	w.drain()
	start := time.Now()
	do(t, md, m)
	ev := w.wait(t, kind, eventDeadline)
	t.Logf("event after %v: %+v", time.Since(start), ev)
	if ev.User != "bob" || ev.Mailbox != "INBOX" || ev.HighestModSeq <= v.HighestModSeq {
		t.Fatalf("event %+v", ev)
	}
	if _, err := imapview.Refresh(context.Background(), m, v); err != nil {
		t.Fatal(err)
	}
	verify(t, v)
	// Dotfiles and tmp/ are not mail.
	os.WriteFile(filepath.Join(md, "cur", ".hidden"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(md, "tmp", "partial"), []byte("x"), 0o600)
	select {
	case ev := <-w.ch:
		t.Fatalf("event for ignored file: %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestRescanOnOpen finds changes made while no one watched.
func TestRescanOnOpen(t *testing.T) {
	s, root := testStore(t, Options{})
	u := testUser(t, s, "carol")
	m := testMailbox(t, u, "Sent")
	for i := 0; i < 3; i++ {
		mustAppend(t, m, msg("x"))
	}
	m.Close()
	dir := filepath.Join(root, "users", "carol", "Maildir", ".Sent")
	names, _ := filepath.Glob(filepath.Join(dir, "cur", "*"))
	os.Remove(names[0])
	os.Rename(names[1], names[1]+"S")
	os.WriteFile(filepath.Join(dir, "new", "1700000002.new.host"), []byte("Subject: n\n\nx\n"), 0o600)

	st, err := u.Status(context.Background(), "Sent")
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 3 || st.Unseen != 2 || st.UIDNext != 5 {
		t.Fatalf("status %+v", st)
	}
	m2 := testMailbox(t, u, "Sent")
	v, _ := m2.Snapshot(context.Background())
	if got := uidsOf(v.Messages.Messages()); !reflect.DeepEqual(got, []uint32{2, 3, 4}) {
		t.Fatalf("uids %v", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "new", "*")); len(left) != 0 {
		t.Fatalf("new/ not emptied: %v", left)
	}
	if !strings.HasSuffix(readAll(t, m2, 4), "x\r\n") {
		t.Fatal("content")
	}
}

// TestRescanTrustsMtimes: opening a mailbox whose folders kept the mtimes
// of its last full scan reads neither folder (a Maildir program that adds,
// removes or renames a file stamps the folder), and one whose mtime moved
// is scanned.
func TestRescanTrustsMtimes(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "users", "dave", "Maildir")
	old := time.Now().Add(-time.Hour)
	stamp := func(when time.Time) {
		t.Helper()
		for _, sub := range []string{"cur", "new"} {
			if err := os.Chtimes(filepath.Join(dir, sub), when, when); err != nil {
				t.Fatal(err)
			}
		}
	}
	// session opens the store, checks the INBOX's message count for a
	// while (long enough for the watch's background rescan) and closes.
	session := func(want int, do func(m mailstore.Mailbox)) {
		t.Helper()
		s, err := Open(root, Options{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		u, err := s.User(context.Background(), "dave")
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		m, err := u.Mailbox(context.Background(), "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if do != nil {
			do(m)
		}
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); sleepMs(20) {
			if got := messageCount(t, m); got != want {
				t.Fatalf("%d messages, want %d", got, want)
			}
		}
	}
	session(2, func(m mailstore.Mailbox) {
		mustAppend(t, m, msg("one"))
		mustAppend(t, m, msg("two"))
	})
	stamp(old)
	session(2, nil) // records the old mtimes
	names, _ := filepath.Glob(filepath.Join(dir, "cur", "*"))
	if err := os.Link(names[0], filepath.Join(dir, "cur", "1700000009.hidden.host:2,")); err != nil {
		t.Fatal(err)
	}
	stamp(old)
	session(2, nil)
	stamp(time.Now().Add(-time.Minute))
	session(3, nil)
}

// TestOneInotifyWatch: many watchers of one mailbox share one watch,
// which ends with the last of them.
func TestOneInotifyWatch(t *testing.T) {
	s, _ := testStore(t, Options{})
	testUser(t, s, "dave")
	var cancels []func()
	for i := 0; i < 1000; i++ {
		cancels = append(cancels, s.Watch("dave", "INBOX", func(mailstore.Event) {}))
	}
	if n := watchTable(t, s.w); n != watchesPerBox { // new/, cur/ (and tmp/)
		t.Fatalf("%d inotify watches", n)
	}
	s.w.mu.Lock()
	b := s.w.boxes[boxKey{"dave", "INBOX"}]
	s.w.mu.Unlock()
	if b == nil || b.holds != 1000 {
		t.Fatalf("watch of INBOX: %+v", b)
	}
	for i, cancel := range cancels {
		cancel()
		cancel() // a second call must not release another's hold
		if n := watchTable(t, s.w); i < len(cancels)-1 && n != watchesPerBox || i == len(cancels)-1 && n != 0 {
			t.Fatalf("%d inotify watches after %d of %d releases", n, i+1, len(cancels))
		}
	}
}

// TestExternalFolders: with a user-wide watch, folders made or removed by
// another tool become MailboxCreated and MailboxDeleted events, and mail
// dropped into the new folder is seen.
func TestExternalFolders(t *testing.T) {
	s, root := testStore(t, Options{})
	testUser(t, s, "rae")
	w := watchEvents(t, s, "rae", "")
	sleepMs(30)
	w.drain()
	md := filepath.Join(root, "users/rae/Maildir")
	tmp := filepath.Join(md, "building")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(tmp, d), 0o700)
	}
	if err := os.Rename(tmp, filepath.Join(md, ".Lists.go")); err != nil {
		t.Fatal(err)
	}
	if ev := w.wait(t, mailstore.MailboxCreated, eventDeadline); ev.Mailbox != "Lists/go" {
		t.Fatalf("event %+v", ev)
	}
	os.WriteFile(filepath.Join(md, ".Lists.go", "new", "1700000000.a.b"), []byte(msg("go")), 0o600)
	if ev := w.wait(t, mailstore.MessagesAdded, eventDeadline); ev.Mailbox != "Lists/go" {
		t.Fatalf("event %+v", ev)
	}
	os.RemoveAll(filepath.Join(md, ".Lists.go"))
	if ev := w.wait(t, mailstore.MailboxDeleted, eventDeadline); ev.Mailbox != "Lists/go" {
		t.Fatalf("event %+v", ev)
	}
}

// TestRenameWithOpenHandle: a handle opened before a rename keeps working
// on the renamed mailbox and still sees disk changes.
func TestRenameWithOpenHandle(t *testing.T) {
	s, root := testStore(t, Options{})
	u := testUser(t, s, "sam")
	ctx := context.Background()
	m := testMailbox(t, u, "Drafts")
	mustAppend(t, m, msg("d"))
	if err := u.RenameMailbox(ctx, "Drafts", "Entwürfe"); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, m, msg("after"))
	w := watchEvents(t, s, "sam", "Entwürfe")
	sleepMs(30)
	w.drain()
	dir := filepath.Join(root, "users/sam/Maildir/.Entwürfe")
	os.WriteFile(filepath.Join(dir, "tmp", "x"), []byte(msg("x")), 0o600)
	os.Rename(filepath.Join(dir, "tmp", "x"), filepath.Join(dir, "new", "1700000000.x"))
	if ev := w.wait(t, mailstore.MessagesAdded, eventDeadline); !reflect.DeepEqual(ev.UIDs, []uint32{3}) {
		t.Fatalf("event %+v", ev)
	}
	v, _ := m.Snapshot(ctx)
	if got := uidsOf(v.Messages.Messages()); !reflect.DeepEqual(got, []uint32{1, 2, 3}) {
		t.Fatalf("uids %v", got)
	}
}

// TestExternalBurst delivers many files at once from outside: every one
// becomes a message, and the burst is applied in a few batches (the
// first file at once, the rest gathered for EventDelay), not one
// transaction and event per file.
func TestExternalBurst(t *testing.T) {
	const files = 40
	s, root := testStore(t, Options{EventDelay: 300 * time.Millisecond})
	u := testUser(t, s, "bob")
	m := testMailbox(t, u, "INBOX")
	md := filepath.Join(root, "users", "bob", "Maildir")
	w := watchEvents(t, s, "bob", "INBOX")
	time.Sleep(20 * time.Millisecond) // the watch's first rescan
	w.drain()
	for i := range files {
		name := fmt.Sprintf("1700000000.P%dQ1.mx", i)
		tmp := filepath.Join(md, "tmp", name)
		if err := os.WriteFile(tmp, []byte(msg(name)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
			t.Fatal(err)
		}
	}
	batches := 0
	deadline := time.After(5 * time.Second)
	for messageCount(t, m) != files {
		select {
		case ev := <-w.ch:
			if ev.Kind == mailstore.MessagesAdded {
				batches++
			}
		case <-deadline:
			t.Fatalf("%d of %d messages after 5 s", messageCount(t, m), files)
		}
	}
	// Writing 40 files takes well under the 300 ms window, so they come
	// in the first event and one or two batches; an event per file
	// would mean the burst is not batched.
	if batches > files/4 {
		t.Errorf("%d batches for %d files", batches, files)
	}
}
