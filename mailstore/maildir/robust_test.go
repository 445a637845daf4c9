package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/mailstore"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestIndexLostOrCorrupt: a missing or garbage index is rebuilt from the
// Maildir with a new UIDVALIDITY and a warning; the mail stays readable.
func TestIndexLostOrCorrupt(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(path string) error
		warn   bool
	}{
		{"deleted", os.Remove, false},
		{"garbage", func(p string) error { return os.WriteFile(p, bytes.Repeat([]byte("garbage!"), 4096), 0o600) }, true},
		{"truncated", func(p string) error { return os.Truncate(p, 100) }, true},
		{"zeroed meta", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt(make([]byte, 8192), 0)
			return err
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			var logs syncBuffer
			opts := Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			s, err := Open(root, opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			u, _ := s.User(ctx, "kim")
			m, _ := u.Mailbox(ctx, "INBOX")
			mustAppend(t, m, msg("one"), `\Seen`)
			mustAppend(t, m, msg("two"))
			oldUV := m.UIDValidity()
			m.Close()
			u.Close()
			s.Close()

			if err := tc.break_(filepath.Join(root, "users", "kim", indexFile)); err != nil {
				t.Fatal(err)
			}
			s, err = Open(root, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			u2 := testUser(t, s, "kim")
			m2 := testMailbox(t, u2, "INBOX")
			if m2.UIDValidity() == oldUV {
				t.Fatal("same UIDVALIDITY after rebuild")
			}
			v, _ := m2.Snapshot(ctx)
			if v.Messages.Len() != 2 || !reflect.DeepEqual(v.Messages.At(0).Flags, []string{`\Seen`}) {
				t.Fatalf("rebuilt view %+v", v.Messages)
			}
			if readAll(t, m2, v.Messages.At(1).UID) != msg("two") {
				t.Fatal("content after rebuild")
			}
			if !strings.Contains(logs.String(), "level=WARN") {
				t.Fatalf("no warning logged:\n%s", logs.String())
			}
			if tc.warn && !strings.Contains(logs.String(), "index unreadable") {
				t.Fatalf("corruption not reported:\n%s", logs.String())
			}
			// Special-use attributes of the default mailboxes come back.
			list, _ := u2.Mailboxes(ctx)
			for _, i := range list {
				if i.Name == "Sent" && i.SpecialUse != `\Sent` {
					t.Fatalf("Sent lost \\Sent: %+v", i)
				}
			}
		})
	}
}

// TestDiskFull appends to a tiny tmpfs: the error wraps ErrNoSpace and
// nothing stored changes. It needs root (mount) and skips otherwise.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a tmpfs mount")
	}
	root := t.TempDir()
	mountTmpfs(t, root, "512k")
	s, err := Open(root, Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := testUser(t, s, "full")
	m := testMailbox(t, u, "INBOX")
	ctx := context.Background()
	mustAppend(t, m, msg("fits"))
	before, _ := u.Status(ctx, "INBOX")
	_, err = m.Append(ctx, bytes.NewReader(bytes.Repeat([]byte("x"), 1<<20)), nil, time.Time{})
	if !errors.Is(err, mailstore.ErrNoSpace) {
		t.Fatalf("append to full disk: %v", err)
	}
	after, _ := u.Status(ctx, "INBOX")
	if before != after {
		t.Fatalf("status changed: %+v -> %+v", before, after)
	}
	if left, _ := os.ReadDir(filepath.Join(root, "users/full/Maildir/tmp")); len(left) != 0 {
		t.Fatalf("tmp/ keeps %d files", len(left))
	}
	if readAll(t, m, 1) != msg("fits") {
		t.Fatal("stored message changed")
	}
	// There is room again for small mail.
	mustAppend(t, m, msg("again"))
}

// TestUnreadableFile: a file the server cannot read is a clear error on
// open, not a crash.
func TestUnreadableFile(t *testing.T) {
	// Tests often run as root, who reads any file: make the message a
	// folder instead.
	s, root := testStore(t, Options{})
	u := testUser(t, s, "lee")
	m := testMailbox(t, u, "INBOX")
	mustAppend(t, m, msg("x"))
	names, _ := filepath.Glob(filepath.Join(root, "users/lee/Maildir/cur/*"))
	// Swap the file for a folder of the same name: unreadable as mail.
	os.Remove(names[0])
	os.Mkdir(names[0], 0o700)
	c, err := m.Open(context.Background(), 1)
	if err == nil {
		_, err = c.ReadAt(make([]byte, 10), 0)
		c.Close()
	}
	if err == nil {
		t.Fatal("reading a folder as mail worked")
	}
}

// TestRecent: \Recent goes to exactly one claiming view, also for mail
// that arrives later (seen through Refresh).
func TestRecent(t *testing.T) {
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "max")
	ctx := context.Background()
	a := testMailbox(t, u, "INBOX")
	b := testMailbox(t, u, "INBOX")
	mustAppend(t, a, msg("1"))
	va, _ := imapview.Open(ctx, a, false)
	vb, _ := imapview.Open(ctx, b, false)
	if len(va.Recent) != 1 || len(vb.Recent) != 0 {
		t.Fatalf("recent a=%v b=%v", va.Recent, vb.Recent)
	}
	mustAppend(t, a, msg("2"))
	st, _ := u.Status(ctx, "INBOX")
	if st.Recent != 1 {
		t.Fatalf("status recent %d", st.Recent)
	}
	ub, _ := imapview.Refresh(ctx, b, vb)
	ua, _ := imapview.Refresh(ctx, a, va)
	if ub.Recent != 1 || ua.Recent != 1 || ua.Added != 1 || !reflect.DeepEqual(vb.Recent, []uint32{2}) || !reflect.DeepEqual(va.Recent, []uint32{1}) {
		t.Fatalf("refresh a=%+v b=%+v", ua, ub)
	}
	vc, _ := imapview.Open(ctx, a, true)
	if len(vc.Recent) != 0 {
		t.Fatal("non-claiming view has recent")
	}
}

// TestRecentClaimConcurrent: of sessions claiming \Recent at once (the
// claim answers before its commit), exactly one gets each message, and the
// claim is in the index once the store is closed.
func TestRecentClaimConcurrent(t *testing.T) {
	s, root := testStore(t, Options{})
	u := testUser(t, s, "kai")
	ctx := context.Background()
	first := testMailbox(t, u, "INBOX")
	for i := range 3 {
		mustAppend(t, first, msg(fmt.Sprint(i)))
	}
	var mu sync.Mutex
	got := map[uint32]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := u.Mailbox(ctx, "INBOX")
			if err != nil {
				t.Error(err)
				return
			}
			defer m.Close()
			from, to, err := m.(mailstore.RecentClaimer).ClaimRecent(ctx, 4)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for uid := from; uid < to; uid++ {
				got[uid]++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if !reflect.DeepEqual(got, map[uint32]int{1: 1, 2: 1, 3: 1}) {
		t.Fatalf("recent claimed %v, want each of UIDs 1-3 once", got)
	}
	if st, _ := u.Status(ctx, "INBOX"); st.Recent != 0 {
		t.Fatalf("status counts %d recent after the claim", st.Recent)
	}
	first.Close()
	u.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(root, Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	u2 := testUser(t, s2, "kai")
	if st, _ := u2.Status(ctx, "INBOX"); st.Recent != 0 || st.Messages != 3 {
		t.Fatalf("after reopening: %d recent of %d, want 0 of 3", st.Recent, st.Messages)
	}
}

// TestRecentClaimWritten: a claim reaches the index with the mailbox's
// next write, or before its index closes when none comes.
func TestRecentClaimWritten(t *testing.T) {
	s, _ := testStore(t, Options{})
	s.linger = 30 * time.Millisecond
	ctx := context.Background()
	u, _ := s.User(ctx, "ivo")
	m, _ := u.Mailbox(ctx, "INBOX")
	mustAppend(t, m, msg("1"))
	mustAppend(t, m, msg("2"))
	claim := func() (uint32, uint32) {
		t.Helper()
		st, err := u.Status(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		from, to, err := m.(mailstore.RecentClaimer).ClaimRecent(ctx, st.UIDNext)
		if err != nil {
			t.Fatal(err)
		}
		return from, to
	}
	if from, to := claim(); from != 1 || to != 3 {
		t.Fatalf("claimed [%d, %d), want [1, 3)", from, to)
	}
	pending := func() int {
		us := m.(*mailboxHandle).u
		us.claimMu.Lock()
		defer us.claimMu.Unlock()
		return len(us.unwrittenMarks())
	}
	if pending() != 1 {
		t.Fatal("claim not held in memory")
	}
	mustAppend(t, m, msg("3")) // writes the claim with it
	if pending() != 0 {
		t.Fatal("the append did not carry the claim")
	}
	if from, to := claim(); from != 3 || to != 4 {
		t.Fatalf("claimed [%d, %d), want [3, 4)", from, to)
	}
	m.Close()
	u.Close()
	waitIndexesClosed(t, s)
	u = testUser(t, s, "ivo")
	if st, _ := u.Status(ctx, "INBOX"); st.Recent != 0 || st.Messages != 3 {
		t.Fatalf("after the index closed: %d recent of %d, want 0 of 3", st.Recent, st.Messages)
	}
}

// TestExpungeLogTrim: past the log limit ChangesSince says so, and Refresh
// falls back to comparing UID lists, still exactly.
func TestExpungeLogTrim(t *testing.T) {
	s, _ := testStore(t, Options{ExpungeLogLimit: 10})
	u := testUser(t, s, "ned")
	m := testMailbox(t, u, "INBOX")
	ctx := context.Background()
	var uids []uint32
	for i := 0; i < 30; i++ {
		uids = append(uids, mustAppend(t, m, msg("x")))
	}
	v, _ := imapview.Open(ctx, m, true)
	start := v.HighestModSeq
	for i := 0; i < 20; i++ {
		m.StoreFlags(ctx, []uint32{uids[i]}, mailstore.FlagsAdd, []string{`\Deleted`}, 0)
		m.Expunge(ctx, []uint32{uids[i]})
	}
	if _, err := m.ChangesSince(ctx, start); !errors.Is(err, mailstore.ErrExpungeLogShort) {
		t.Fatalf("changes since trimmed modseq: %v", err)
	}
	upd, err := imapview.Refresh(ctx, m, v)
	if err != nil {
		t.Fatal(err)
	}
	if len(upd.ExpungedUIDs) != 20 || v.Messages.Len() != 10 || upd.ExpungedSeqs[0] != 20 {
		t.Fatalf("fallback refresh %+v, %d left", upd, v.Messages.Len())
	}
	ch, err := m.ChangesSince(ctx, v.HighestModSeq-1)
	if err != nil || len(ch.Expunged) != 1 {
		t.Fatalf("recent changes %+v %v", ch, err)
	}
}

// TestWatchWithoutHandle: a hibernated session holds only a Watch; its
// user's index closes a linger after the last handle, disk changes still
// reach the watch, and the index the watcher opened for them closes again.
func TestWatchWithoutHandle(t *testing.T) {
	s, root := testStore(t, Options{})
	s.linger = 50 * time.Millisecond
	u, _ := s.User(context.Background(), "olga")
	u.Close()
	if n := openIndexes(s); n != 1 {
		t.Fatalf("%d indexes open just after close, want 1 lingering", n)
	}
	waitIndexesClosed(t, s)
	w := watchEvents(t, s, "olga", "INBOX")
	waitIndexesClosed(t, s) // the watch's rescan opened it for a moment
	md := filepath.Join(root, "users/olga/Maildir")
	os.WriteFile(filepath.Join(md, "tmp", "x"), []byte(msg("hi")), 0o600)
	os.Rename(filepath.Join(md, "tmp", "x"), filepath.Join(md, "new", "1700000000.x.host"))
	ev := w.wait(t, mailstore.MessagesAdded, eventDeadline)
	if !reflect.DeepEqual(ev.UIDs, []uint32{1}) || ev.UIDNext != 2 {
		t.Fatalf("event %+v", ev)
	}
	waitIndexesClosed(t, s)
}

// TestWatchEveryUser: a watch on every user hears the changes that other
// programs make in folders a Watch with a nil fn keeps watched, as the
// hibernator watches its sleepers' mailboxes.
func TestWatchEveryUser(t *testing.T) {
	s, root := testStore(t, Options{})
	u, _ := s.User(context.Background(), "rhea")
	u.Close()
	all := watchEvents(t, s, "", "")
	release := s.Watch("rhea", "INBOX", nil)
	defer release()
	md := filepath.Join(root, "users/rhea/Maildir")
	os.WriteFile(filepath.Join(md, "tmp", "x"), []byte(msg("hi")), 0o600)
	os.Rename(filepath.Join(md, "tmp", "x"), filepath.Join(md, "new", "1700000000.x.host"))
	ev := all.wait(t, mailstore.MessagesAdded, eventDeadline)
	if ev.User != "rhea" || ev.Mailbox != "INBOX" || !reflect.DeepEqual(ev.UIDs, []uint32{1}) {
		t.Fatalf("event %+v", ev)
	}
}

// TestEarlyEvent: a file delivered into new/ is announced before the
// watcher's commit, with what a sleeper needs to follow on (the state it
// follows, UIDVALIDITY, a \Recent claim), then again once committed; a
// read that starts after the early event sees the commit.
func TestEarlyEvent(t *testing.T) {
	s, root := testStore(t, Options{})
	ctx := context.Background()
	u := testUser(t, s, "eve")
	m := testMailbox(t, u, "INBOX")
	mustAppend(t, m, msg("old"))
	v, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := watchEventsAll(t, s, "eve", "INBOX", true)
	md := filepath.Join(root, "users/eve/Maildir")
	os.WriteFile(filepath.Join(md, "tmp", "x"), []byte(msg("new")), 0o600)
	os.Rename(filepath.Join(md, "tmp", "x"), filepath.Join(md, "new", "1700000000.x.host"))
	early := w.wait(t, mailstore.MessagesAdded, eventDeadline)
	if early.Early == nil {
		t.Fatalf("first event %+v is not early", early)
	}
	if e := early.Early; e.Since != v.HighestModSeq || e.UIDValidity != m.UIDValidity() ||
		!reflect.DeepEqual(early.UIDs, []uint32{2}) || early.UIDNext != 3 {
		t.Fatalf("early event %+v %+v, view at modseq %d", early, *e, v.HighestModSeq)
	}
	// The commit may still be on its way: a read waits for it.
	if st, err := u.Status(ctx, "INBOX"); err != nil || st.Messages != 2 || st.HighestModSeq != early.HighestModSeq {
		t.Fatalf("status after the early event: %+v %v", st, err)
	}
	if from, to := early.Early.ClaimRecent(early.UIDNext); from != 1 || to != 3 {
		t.Fatalf("claim [%d, %d), want [1, 3)", from, to)
	}
	if from, to := early.Early.ClaimRecent(early.UIDNext); from != 0 || to != 0 {
		t.Fatalf("second claim [%d, %d), want nothing", from, to)
	}
	late := w.wait(t, mailstore.MessagesAdded, eventDeadline)
	if late.Early != nil || !reflect.DeepEqual(late.UIDs, early.UIDs) {
		t.Fatalf("second event %+v, want the committed one", late)
	}
}

// TestFailedAnnouncement: the UIDs and MODSEQs of an announcement whose
// transaction failed are never given out again, also after the index
// closed and opened again.
func TestFailedAnnouncement(t *testing.T) {
	s, _ := testStore(t, Options{})
	s.linger = 20 * time.Millisecond
	ctx := context.Background()
	open := func() (mailstore.User, mailstore.Mailbox) {
		t.Helper()
		uh, err := s.User(ctx, "fay")
		if err != nil {
			t.Fatal(err)
		}
		m, err := uh.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		return uh, m
	}
	// As a transaction that announced up to UID 9 and MODSEQ 50, then
	// failed.
	fail := func(m mailstore.Mailbox, uidNext uint32, modSeq uint64) {
		h := m.(*mailboxHandle)
		done := make(chan struct{})
		h.u.annMu.Lock()
		h.u.announced = done
		h.u.annMu.Unlock()
		h.u.endAnnouncement(&announcement{id: h.id, uidNext: uidNext, modSeq: modSeq, done: done}, errors.New("disk failed"))
	}
	uh, m := open()
	mustAppend(t, m, msg("1"))
	fail(m, 10, 50)
	m.Close()
	uh.Close()
	waitIndexesClosed(t, s) // written before the index closed
	uh, m = open()
	defer uh.Close()
	defer m.Close()
	if uid := mustAppend(t, m, msg("2")); uid != 10 {
		t.Fatalf("after reopening appended as UID %d, want 10", uid)
	}
	fail(m, 20, 100)
	if uid := mustAppend(t, m, msg("3")); uid != 20 {
		t.Fatalf("appended as UID %d, want 20", uid)
	}
	if st, _ := uh.Status(ctx, "INBOX"); st.HighestModSeq <= 100 {
		t.Fatalf("HIGHESTMODSEQ %d, want above 100", st.HighestModSeq)
	}
}

// TestIndexLinger: an index taken again while it lingers stays open (the
// old timer must not close it under its new holder), and the number of
// lingering indexes is bounded.
func TestIndexLinger(t *testing.T) {
	s, _ := testStore(t, Options{NoSync: true})
	s.linger = 40 * time.Millisecond
	ctx := context.Background()
	u, _ := s.User(ctx, "pia")
	u.Close()
	sleepMs(20)
	u, err := s.User(ctx, "pia")
	if err != nil {
		t.Fatal(err)
	}
	sleepMs(60) // the first timer's time is long past
	if _, err := u.Mailboxes(ctx); err != nil {
		t.Fatalf("index closed under its holder: %v", err)
	}
	u.Close()
	waitIndexesClosed(t, s)

	s.linger = time.Minute
	for i := range maxLingering + 3 {
		u, err := s.User(ctx, fmt.Sprintf("u%d", i))
		if err != nil {
			t.Fatal(err)
		}
		u.Close()
	}
	if n := openIndexes(s); n != maxLingering {
		t.Fatalf("%d indexes lingering, want the bound %d", n, maxLingering)
	}
}

func openIndexes(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}

// waitIndexesClosed fails unless every index closes within a second.
func waitIndexesClosed(t *testing.T, s *Store) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); openIndexes(s) > 0; sleepMs(5) {
		if time.Now().After(deadline) {
			t.Fatalf("%d indexes still open a second after their last handle", openIndexes(s))
		}
	}
}

// TestUserWideWatch: a watch on "" hears every mailbox, including ones
// created later.
func TestUserWideWatch(t *testing.T) {
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "pat")
	ctx := context.Background()
	w := watchEvents(t, s, "pat", "")
	u.CreateMailbox(ctx, "Lists", "")
	w.wait(t, mailstore.MailboxCreated, time.Second)
	m := testMailbox(t, u, "Lists")
	mustAppend(t, m, msg("l"))
	if ev := w.wait(t, mailstore.MessagesAdded, time.Second); ev.Mailbox != "Lists" {
		t.Fatalf("event %+v", ev)
	}
	u.SetSubscribed(ctx, "Lists", false)
	w.wait(t, mailstore.SubscriptionsChanged, time.Second)
}

// TestConcurrentSessions runs appends, flag changes, expunges and
// refreshes of one user from many goroutines; views must stay consistent
// with a fresh view at the end. Run with -race.
func TestConcurrentSessions(t *testing.T) {
	s, _ := testStore(t, Options{NoSync: true})
	u := testUser(t, s, "quin")
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			m, err := u.Mailbox(ctx, "INBOX")
			if err != nil {
				errs <- err
				return
			}
			defer m.Close()
			v, err := imapview.Open(ctx, m, false)
			if err != nil {
				errs <- err
				return
			}
			for i := 0; i < 40; i++ {
				uid, err := m.Append(ctx, strings.NewReader(msg("c")), nil, time.Time{})
				if err != nil {
					errs <- err
					return
				}
				if i%3 == 0 {
					m.StoreFlags(ctx, []uint32{uid}, mailstore.FlagsAdd, []string{`\Deleted`}, 0)
				}
				if i%7 == 0 {
					m.Expunge(ctx, nil)
				}
				if _, err := imapview.Refresh(ctx, m, v); err != nil {
					errs <- err
					return
				}
			}
			m.Expunge(ctx, nil)
			imapview.Refresh(ctx, m, v)
			fresh, _ := imapview.Open(ctx, m, true)
			// Another goroutine may have changed things since: refresh
			// both and compare.
			imapview.Refresh(ctx, m, v)
			imapview.Refresh(ctx, m, fresh)
			if v.HighestModSeq == fresh.HighestModSeq && !reflect.DeepEqual(uidsOf(v.Messages.Messages()), uidsOf(fresh.Messages.Messages())) {
				errs <- errors.New("refreshed view differs from a fresh one")
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	m := testMailbox(t, u, "INBOX")
	v, _ := m.Snapshot(ctx)
	st, _ := u.Status(ctx, "INBOX")
	if int(st.Messages) != v.Messages.Len() || st.UIDNext != 161 {
		t.Fatalf("status %+v, view %d", st, v.Messages.Len())
	}
}

// TestDamagedRecord: a record that does not decode is an error, never a
// panic; once no session holds the index it is rebuilt from the Maildir.
func TestDamagedRecord(t *testing.T) {
	root := t.TempDir()
	opts := Options{Logger: discardLogger()}
	s, _ := Open(root, opts)
	ctx := context.Background()
	u, _ := s.User(ctx, "uma")
	m, _ := u.Mailbox(ctx, "INBOX")
	mustAppend(t, m, msg("one"))
	m.Close()
	u.Close()
	s.Close()

	db, err := bolt.Open(filepath.Join(root, "users/uma", indexFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		id, _ := mailboxID(tx, "INBOX")
		return tx.Bucket(bktBoxes).Bucket(u64(id)).Bucket(bktMsgs).Put(u32(1), []byte{9, 9, 9})
	})
	db.Close()

	s, _ = Open(root, opts)
	defer s.Close()
	u, _ = s.User(ctx, "uma")
	// The damage shows when the mailbox is opened (its rescan reads every
	// record) or at the latest when a view is read.
	if m, err = u.Mailbox(ctx, "INBOX"); err == nil {
		_, err = m.Snapshot(ctx)
		m.Close()
	}
	if err == nil {
		t.Fatal("damaged record read without error")
	}
	u.Close()
	u2 := testUser(t, s, "uma")
	m2 := testMailbox(t, u2, "INBOX")
	v, err := m2.Snapshot(ctx)
	if err != nil || v.Messages.Len() != 1 {
		t.Fatalf("after rebuild: %v %v", v, err)
	}
	if readAll(t, m2, v.Messages.At(0).UID) != msg("one") {
		t.Fatal("content after rebuild")
	}
}

// TestLinkOrCopyAcrossDevices copies when a hard link is impossible
// (the source on a tmpfs). It needs root for the mount.
func TestLinkOrCopyAcrossDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a tmpfs mount")
	}
	other := t.TempDir()
	mountTmpfs(t, other, "1m")
	src := filepath.Join(other, "msg")
	os.WriteFile(src, []byte(msg("x")), 0o600)
	dst := t.TempDir()
	os.Mkdir(filepath.Join(dst, "tmp"), 0o700)
	os.Mkdir(filepath.Join(dst, "cur"), 0o700)
	target := filepath.Join(dst, "cur", "copy:2,S")
	if err := linkOrCopy(src, target, filepath.Join(dst, "tmp"), false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != msg("x") {
		t.Fatalf("copied %q", b)
	}
	if left, _ := os.ReadDir(filepath.Join(dst, "tmp")); len(left) != 0 {
		t.Fatal("tmp/ not clean")
	}
}

// TestDuplicateAndRestoredFiles: a second file with a known base (a copy
// made by some tool) gets its own UID; a file whose move from new/ to cur/
// was lost in a crash goes back under its UID.
func TestDuplicateAndRestoredFiles(t *testing.T) {
	s, root := testStore(t, Options{})
	u := testUser(t, s, "vic")
	m := testMailbox(t, u, "INBOX")
	mustAppend(t, m, msg("orig"))
	md := filepath.Join(root, "users/vic/Maildir")
	names, _ := filepath.Glob(filepath.Join(md, "cur", "*"))
	b, _ := os.ReadFile(names[0])
	w := watchEvents(t, s, "vic", "INBOX")
	sleepMs(20)
	w.drain()
	os.WriteFile(names[0]+"S", b, 0o600) // same base, other flags
	if ev := w.wait(t, mailstore.MessagesAdded, eventDeadline); !reflect.DeepEqual(ev.UIDs, []uint32{2}) {
		t.Fatalf("event %+v", ev)
	}
	v, _ := m.Snapshot(context.Background())
	if v.Messages.Len() != 2 {
		t.Fatalf("view %v", uidsOf(v.Messages.Messages()))
	}
	// Undo the move new/ -> cur/ as a crash could: UID 1 stays.
	os.Rename(names[0], filepath.Join(md, "new", filepath.Base(strings.TrimSuffix(names[0], ":2,"))))
	sleepMs(60)
	v, _ = m.Snapshot(context.Background())
	if got := uidsOf(v.Messages.Messages()); !reflect.DeepEqual(got, []uint32{1, 2}) {
		t.Fatalf("after restore %v", got)
	}
}

// TestAnnouncementsInTurn: appends one after another, each announced to
// an early watcher, each end their own announcement: the next one may
// begin (its transaction) before the last has ended, and reads after
// them all do not wait forever.
func TestAnnouncementsInTurn(t *testing.T) {
	s, _ := testStore(t, Options{NoSync: true})
	var mu sync.Mutex
	heard := 0
	cancel := s.WatchEarly(func(mailstore.EarlyAdd) { mu.Lock(); heard++; mu.Unlock() })
	defer cancel()
	ctx := context.Background()
	u := testUser(t, s, "ann")
	m := testMailbox(t, u, "INBOX")
	mustAppend(t, m, msg("first"))
	const writers, each = 4, 25
	errs := make(chan error, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				_, err := m.Append(ctx, strings.NewReader(msg(fmt.Sprint(w, i))), nil, time.Time{})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan mailstore.Status, 1)
	go func() {
		st, _ := u.Status(ctx, "INBOX")
		done <- st
	}()
	select {
	case st := <-done:
		if st.Messages != 1+writers*each {
			t.Fatalf("%d messages, want %d", st.Messages, 1+writers*each)
		}
	case <-time.After(time.Minute):
		t.Fatal("a read after the appends waits for an announcement that never ended")
	}
	mu.Lock()
	defer mu.Unlock()
	if heard < writers*each {
		t.Fatalf("heard %d announcements, want one per append, %d", heard, writers*each)
	}
}
