package maildir

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// kernelWatches counts the watches the kernel keeps on the store's inotify
// descriptor (/proc/self/fdinfo lists one "inotify wd:" line each).
func kernelWatches(t testing.TB, s *Store) int {
	t.Helper()
	var fd uintptr
	if err := s.w.fw.(*inotify).raw.Control(func(f uintptr) { fd = f }); err != nil {
		t.Fatal(err)
	}
	info, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(info, []byte("\ninotify wd:"))
}

// waitWatches waits until the watcher's table and the kernel both hold n
// watches: the watcher learns of a watch the kernel dropped only when it
// reads the IN_IGNORED event.
func waitWatches(t testing.TB, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		table, kernel := watchTable(t, s.w), kernelWatches(t, s)
		if table == n && kernel == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d watches in the table and %d in the kernel, want %d", table, kernel, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// watchEnv is one case's store, user and holds.
type watchEnv struct {
	s       *Store
	u       mailstore.User
	md      string   // the user's Maildir
	cancels []func() // every hold the case took
}

func (e *watchEnv) watch(mailbox string) {
	e.cancels = append(e.cancels, e.s.Watch("ida", mailbox, func(mailstore.Event) {}))
}

func (e *watchEnv) open(t *testing.T, mailbox string) {
	m, err := e.u.Mailbox(context.Background(), mailbox)
	if err != nil {
		t.Fatal(err)
	}
	e.cancels = append(e.cancels, func() { m.Close() })
}

// TestInotifyWatches follows the inotify watches of held mailboxes through
// changes of their folders: the watcher's table must agree with the
// kernel's watches throughout (no descriptor the kernel dropped still
// names a mailbox), deliveries must still be seen, and once every hold is
// released no watch may be left.
func TestInotifyWatches(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, e *watchEnv)
		watches int    // after the change
		deliver string // a mailbox whose deliveries must be seen after it
	}{
		{
			name:    "held",
			change:  func(t *testing.T, e *watchEnv) {},
			watches: 3, deliver: "Lists",
		},
		{
			name: "folder removed, made again and opened",
			change: func(t *testing.T, e *watchEnv) {
				dir := filepath.Join(e.md, ".Lists")
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				waitWatches(t, e.s, 0) // IN_IGNORED
				for _, sub := range []string{"cur", "new", "tmp"} {
					if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
						t.Fatal(err)
					}
				}
				e.open(t, "Lists")
			},
			watches: 3, deliver: "Lists",
		},
		{
			name: "deleted and created again by the store, then watched",
			change: func(t *testing.T, e *watchEnv) {
				ctx := context.Background()
				if err := e.u.DeleteMailbox(ctx, "Lists"); err != nil {
					t.Fatal(err)
				}
				waitWatches(t, e.s, 0)
				if err := e.u.CreateMailbox(ctx, "Lists", ""); err != nil {
					t.Fatal(err)
				}
				e.watch("Lists")
			},
			watches: 3, deliver: "Lists",
		},
		{
			name: "renamed by the store",
			change: func(t *testing.T, e *watchEnv) {
				if err := e.u.RenameMailbox(context.Background(), "Lists", "Old/Lists"); err != nil {
					t.Fatal(err)
				}
			},
			watches: 3, deliver: "Old/Lists",
		},
		{
			name: "new/ moved away",
			change: func(t *testing.T, e *watchEnv) {
				dir := filepath.Join(e.md, ".Lists")
				if err := os.Rename(filepath.Join(dir, "new"), filepath.Join(dir, "new.moved")); err != nil {
					t.Fatal(err)
				}
			},
			watches: 2, // cur/ and tmp/; the moved folder is no longer the mailbox's
		},
		{
			// The kernel answers with Lists' descriptors: Lists keeps
			// them, and the table still names each once.
			name: "another mailbox linked to the same folders",
			change: func(t *testing.T, e *watchEnv) {
				if err := os.Symlink(".Lists", filepath.Join(e.md, ".Alias")); err != nil {
					t.Fatal(err)
				}
				e.watch("Alias")
			},
			watches: 3, deliver: "Lists",
		},
		{
			name: "user-wide hold",
			change: func(t *testing.T, e *watchEnv) {
				e.watch("")
			},
			// The root, and new/, cur/ and tmp/ of INBOX, Lists and
			// the default mailboxes.
			watches: 1 + 3*(2+len(defaultNames())), deliver: "Lists",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, root := testStore(t, Options{})
			u := testUser(t, s, "ida")
			if err := u.CreateMailbox(context.Background(), "Lists", ""); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var added []string
			stop := s.bus.Subscribe("ida", "", func(ev mailstore.Event) {
				if ev.Kind == mailstore.MessagesAdded {
					mu.Lock()
					added = append(added, ev.Mailbox)
					mu.Unlock()
				}
			})
			defer stop()
			e := &watchEnv{s: s, u: u, md: filepath.Join(root, "users", "ida", "Maildir")}
			e.watch("Lists")
			waitWatches(t, s, 3) // new/, cur/, tmp/
			tc.change(t, e)
			waitWatches(t, s, tc.watches)
			if tc.deliver != "" {
				sleepMs(30) // the rescans the holds asked for
				dir := filepath.Join(e.md, dirName(tc.deliver))
				if err := os.WriteFile(filepath.Join(dir, "tmp", "1700000000.x"), []byte(msg("x")), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(filepath.Join(dir, "tmp", "1700000000.x"), filepath.Join(dir, "new", "1700000000.x")); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(eventDeadline)
				for {
					mu.Lock()
					seen := strings.Join(added, ",")
					mu.Unlock()
					if strings.Contains(","+seen+",", ","+tc.deliver+",") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("no MessagesAdded for %s within %v (got %q)", tc.deliver, eventDeadline, seen)
					}
					time.Sleep(2 * time.Millisecond)
				}
			}
			for _, cancel := range e.cancels {
				cancel()
			}
			waitWatches(t, s, 0)
		})
	}
}

// TestInotifyOverflow loses events on purpose: with the watcher stalled,
// more file events than the kernel queues are made, so the kernel drops
// the rest and reports IN_Q_OVERFLOW. The full rescan it asks for must
// find every file, those whose events were lost too.
func TestInotifyOverflow(t *testing.T) {
	limit := readProcInt(t, "/proc/sys/fs/inotify/max_queued_events")
	if limit > 1<<16 {
		t.Skipf("max_queued_events is %d: too many files to make", limit)
	}
	var logs syncBuffer
	s, root := testStore(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	u := testUser(t, s, "olga")
	m := testMailbox(t, u, "INBOX")
	newDir := filepath.Join(root, "users", "olga", "Maildir", "new")
	sleepMs(30) // the rescan the open asked for
	// Each file written makes two events (IN_CREATE, IN_MODIFY). The
	// reader's channel takes feedBuffer while the loop waits for the
	// lock, the kernel queues limit more; the files past that are known
	// only to a rescan.
	files := (limit+feedBuffer)/2 + 1000
	s.w.mu.Lock()
	for i := range files {
		if err := os.WriteFile(filepath.Join(newDir, fmt.Sprintf("1700000000.P%dQ1.of", i)), []byte("Subject: o\n\nx\n"), 0o600); err != nil {
			s.w.mu.Unlock()
			t.Fatal(err)
		}
	}
	s.w.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for n := messageCount(t, m); n != files; n = messageCount(t, m) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages indexed", n, files)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "overflow") {
		t.Fatalf("no overflow was reported; log:\n%s", logs.String())
	}
}

func readProcInt(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skip(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInotifyCloseEndsReader: closing the store ends the reader, which
// waits in a read of the descriptor; after it a watch can no longer be
// added (the descriptor's number may name another file by then), and
// releasing a hold is harmless.
func TestInotifyCloseEndsReader(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root, Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.User(context.Background(), "uma")
	if err != nil {
		t.Fatal(err)
	}
	u.Close()
	cancel := s.Watch("uma", "INBOX", func(mailstore.Event) {})
	waitWatches(t, s, 3)
	in := s.w.fw.(*inotify)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-in.done:
	case <-time.After(2 * time.Second):
		t.Fatal("the reader still runs 2 s after Close began")
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for range in.events() {
		// Events read before the close; the channel must be closed.
	}
	if _, err := in.add(filepath.Join(root, "users", "uma", "Maildir", "cur")); err == nil {
		t.Fatal("a watch was added after Close")
	}
	cancel()
}

// TestWarmBeforeDelivery: a file created in the tmp/ of a watched mailbox
// opens its user's closed index (and nothing more: no event, no change),
// so that the rename into new/ that follows finds it open; the delivery
// is then seen as always.
func TestWarmBeforeDelivery(t *testing.T) {
	s, root := testStore(t, Options{})
	s.mu.Lock()
	s.linger = 50 * time.Millisecond
	s.mu.Unlock()
	u, err := s.User(context.Background(), "vera")
	if err != nil {
		t.Fatal(err)
	}
	u.Close()
	w := watchEventsAll(t, s, "vera", "INBOX", true)
	waitIndexesClosed(t, s) // the watch's rescan opened it for a moment
	s.mu.Lock()
	s.linger = time.Minute // the warmed index must still be open when looked at
	s.mu.Unlock()

	md := filepath.Join(root, "users", "vera", "Maildir")
	tmp := filepath.Join(md, "tmp", "1700000000.P1Q1.host")
	if err := os.WriteFile(tmp, []byte(msg("warm")), 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); openIndexes(s) != 1; sleepMs(2) {
		if time.Now().After(deadline) {
			t.Fatal("the index was not opened for the file in tmp/")
		}
	}
	select {
	case ev := <-w.ch:
		t.Fatalf("event %+v for a file in tmp/", ev)
	case <-time.After(50 * time.Millisecond):
	}
	if err := os.Rename(tmp, filepath.Join(md, "new", "1700000000.P1Q1.host")); err != nil {
		t.Fatal(err)
	}
	ev := w.wait(t, mailstore.MessagesAdded, eventDeadline)
	if !reflect.DeepEqual(ev.UIDs, []uint32{1}) {
		t.Fatalf("event %+v", ev)
	}
}

// TestWarmBound: warming never holds more than maxLingering indexes open;
// past that a file in tmp/ opens nothing.
func TestWarmBound(t *testing.T) {
	s, _ := testStore(t, Options{NoSync: true})
	s.mu.Lock()
	s.linger = time.Minute
	s.mu.Unlock()
	for i := range maxLingering {
		s.warm(fmt.Sprintf("u%d", i))
	}
	if n := openIndexes(s); n != maxLingering {
		t.Fatalf("%d indexes open after %d warms, want %d", n, maxLingering, maxLingering)
	}
	s.warm("one-more")
	if n := openIndexes(s); n != maxLingering {
		t.Fatalf("%d indexes open after a warm past the bound, want %d", n, maxLingering)
	}
}

// TestInotifyReadEnd: the reader marks the end of each kernel read, and
// the two halves of a rename (moved out of new/, into cur/) come in
// order, in the read the drain takes or, when the read fell between the
// kernel's queueing of the two (it wakes the reader at the first; seen
// once on a loaded machine), in the next one.
func TestInotifyReadEnd(t *testing.T) {
	fw, err := newFolderWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer fw.close()
	dir := t.TempDir()
	from, to := filepath.Join(dir, "new"), filepath.Join(dir, "cur")
	wds := map[int32]string{}
	for _, d := range []string{from, to} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		wd, err := fw.add(d)
		if err != nil {
			t.Fatal(err)
		}
		wds[wd] = filepath.Base(d)
	}
	if err := os.WriteFile(filepath.Join(from, "m"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The creation's events, until the queue is quiet.
	for quiet := false; !quiet; {
		select {
		case <-fw.events():
		case <-time.After(200 * time.Millisecond):
			quiet = true
		}
	}
	var got []string
	read := func() {
		t.Helper()
		for {
			select {
			case ev := <-fw.events():
				if ev.op == opReadEnd {
					return
				}
				got = append(got, wds[ev.wd]+"/"+ev.name)
			case <-time.After(10 * time.Second):
				t.Fatalf("no end of read after %v", got)
			}
		}
	}
	if err := os.Rename(filepath.Join(from, "m"), filepath.Join(to, "m:2,S")); err != nil {
		t.Fatal(err)
	}
	want := []string{"new/m", "cur/m:2,S"}
	read()
	if len(got) == 1 {
		read() // the second half in a read of its own
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the reads gave %q, want %q", got, want)
	}
}

// TestInotifyBurstNoOverflow: a burst of file events larger than the
// kernel's queue plus 4,096, made while the watcher is stalled (as it is
// while it waits for the index's write lock during a large STORE or
// EXPUNGE), is held by the reader rather than lost: no overflow, so no
// full rescan, and every file is found from its events. With a buffer of
// 4,096 events the kernel's queue overflowed.
func TestInotifyBurstNoOverflow(t *testing.T) {
	limit := readProcInt(t, "/proc/sys/fs/inotify/max_queued_events")
	if limit > 1<<16 {
		t.Skipf("max_queued_events is %d: too many files to make", limit)
	}
	var logs syncBuffer
	s, root := testStore(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	u := testUser(t, s, "nora")
	m := testMailbox(t, u, "INBOX")
	newDir := filepath.Join(root, "users", "nora", "Maildir", "new")
	sleepMs(30) // the rescan the open asked for
	// Two events per file (IN_CREATE, IN_MODIFY): past the kernel's queue
	// and 4,096 more, within the kernel's queue and feedBuffer.
	files := (limit+4096)/2 + 1000
	s.w.mu.Lock()
	for i := range files {
		if err := os.WriteFile(filepath.Join(newDir, fmt.Sprintf("1700000000.P%dQ1.burst", i)), []byte("Subject: b\n\nx\n"), 0o600); err != nil {
			s.w.mu.Unlock()
			t.Fatal(err)
		}
	}
	s.w.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for n := messageCount(t, m); n != files; n = messageCount(t, m) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages indexed", n, files)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "overflow") {
		t.Fatalf("the burst overflowed; log:\n%s", logs.String())
	}
}
