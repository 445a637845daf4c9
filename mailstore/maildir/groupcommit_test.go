package maildir

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// holdWriter takes the user's bbolt writer lock until the returned
// function is called, so that changes made meanwhile queue up.
func holdWriter(t *testing.T, u *userState) (release func()) {
	t.Helper()
	held, done := make(chan struct{}), make(chan struct{})
	go func() {
		_ = u.db.Update(func(*bolt.Tx) error {
			close(held)
			<-done
			return errRollback
		})
	}()
	<-held
	var once sync.Once
	release = func() { once.Do(func() { close(done) }) }
	t.Cleanup(release)
	return release
}

// waitQueued waits until a change is committing and n wait behind it.
func waitQueued(t *testing.T, u *userState, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u.commits.mu.Lock()
		got, busy := len(u.commits.pending), u.commits.busy
		u.commits.mu.Unlock()
		if busy && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d changes queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// txID is the id of the index's last committed transaction.
func txID(t *testing.T, u *userState) int {
	t.Helper()
	var id int
	if err := u.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestGroupCommitSharesCommits: flag changes and expunges of one user made
// by several sessions while another commit is under way share one commit
// (the first, already waiting for the writer lock, commits alone), and
// every change is applied with a MODSEQ of its own.
func TestGroupCommitSharesCommits(t *testing.T) {
	const sessions = 8
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "alice")
	first := testMailbox(t, u, "INBOX")
	for i := 0; i < sessions+1; i++ {
		mustAppend(t, first, msg(fmt.Sprint(i)), `\Deleted`)
	}
	us := first.(*mailboxHandle).u
	mbs := make([]mailstore.Mailbox, sessions)
	for i := range mbs {
		mbs[i] = testMailbox(t, u, "INBOX")
	}
	before := txID(t, us)
	release := holdWriter(t, us)
	ctx := context.Background()
	var wg sync.WaitGroup
	modSeqs := make([]uint64, sessions)
	var expunged []uint32
	for i, mb := range mbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			changed, _, err := mb.StoreFlags(ctx, []uint32{uint32(i + 1)}, mailstore.FlagsAdd, []string{`\Seen`}, 0)
			if err != nil || len(changed) != 1 {
				t.Errorf("session %d: STORE changed %v, err %v", i, changed, err)
				return
			}
			modSeqs[i] = changed[0].ModSeq
		}()
		if i == 0 {
			waitQueued(t, us, 0)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		if expunged, err = first.Expunge(ctx, []uint32{sessions + 1}); err != nil {
			t.Errorf("expunge: %v", err)
		}
	}()
	waitQueued(t, us, sessions) // sessions-1 STOREs and the EXPUNGE behind the first
	release()
	wg.Wait()
	// The held transaction rolled back: one commit for the first STORE,
	// one for all that queued behind it.
	if got := txID(t, us) - before; got != 2 {
		t.Errorf("%d commits for %d changes, want 2", got, sessions+1)
	}
	seen := map[uint64]bool{}
	for i, ms := range modSeqs {
		if ms == 0 || seen[ms] {
			t.Errorf("session %d: MODSEQ %d not its own (all: %v)", i, ms, modSeqs)
		}
		seen[ms] = true
	}
	if len(expunged) != 1 || expunged[0] != sessions+1 {
		t.Errorf("expunged %v, want [%d]", expunged, sessions+1)
	}
	snap, err := first.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Messages.Len() != sessions {
		t.Fatalf("%d messages after the expunge, want %d", snap.Messages.Len(), sessions)
	}
	for _, m := range snap.Messages.Messages() {
		if !hasFlag(m.Flags, `\Seen`) {
			t.Errorf("UID %d: flags %v, want \\Seen", m.UID, m.Flags)
		}
	}
}

// TestGroupCommitFailureIsOwn: a change that fails inside a shared commit
// (its mailbox was deleted) fails alone; the changes it was batched with
// are committed, and their files carry the new flags. In "sync before
// undo" a sync of the folder, as the watcher runs on the events of the
// batch's renames, is started just before the renames are undone and
// given time to run: it must wait for the batch's transaction, or it
// records the renamed file that the undo then takes away, and the index
// names a file that is gone.
func TestGroupCommitFailureIsOwn(t *testing.T) {
	for _, syncBeforeUndo := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "sync before undo"}[syncBeforeUndo], func(t *testing.T) {
			testGroupCommitFailureIsOwn(t, syncBeforeUndo)
		})
	}
}

func testGroupCommitFailureIsOwn(t *testing.T, syncBeforeUndo bool) {
	var us *userState
	var once sync.Once
	synced := make(chan error, 1)
	var opts Options
	if syncBeforeUndo {
		opts.beforeUndo = func() {
			once.Do(func() {
				names, err := listNames(filepath.Join(us.maildir, "cur"))
				if err != nil {
					synced <- err
					return
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, err := us.syncMailbox("INBOX", false, nil, names)
					synced <- err
				}()
				// Inside the failed transaction the sync waits for
				// bbolt's writer lock, and only a deadline ends the
				// wait; after it the sync runs at once.
				select {
				case <-done:
				case <-time.After(250 * time.Millisecond):
				}
			})
		}
	}
	s, _ := testStore(t, opts)
	u := testUser(t, s, "alice")
	ctx := context.Background()
	if err := u.CreateMailbox(ctx, "Gone", ""); err != nil {
		t.Fatal(err)
	}
	inbox, gone := testMailbox(t, u, "INBOX"), testMailbox(t, u, "Gone")
	other := testMailbox(t, u, "INBOX")
	mustAppend(t, inbox, msg("a"))
	mustAppend(t, inbox, msg("b"))
	mustAppend(t, gone, msg("c"))
	us = inbox.(*mailboxHandle).u
	// Delete Gone's index state behind its open handle.
	if err := us.update(func(tx *bolt.Tx) error { return dropMbox(tx, "Gone") }); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, us)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, c := range []struct {
		mb  mailstore.Mailbox
		uid uint32
	}{{inbox, 1}, {other, 2}, {gone, 1}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = c.mb.StoreFlags(ctx, []uint32{c.uid}, mailstore.FlagsAdd, []string{`\Flagged`}, 0)
		}()
		waitQueued(t, us, i) // in this order: the first leads, the others queue;
		// the failing change runs after one that renamed a file
	}
	release()
	wg.Wait()
	if syncBeforeUndo {
		if err := <-synced; err != nil {
			t.Fatalf("sync before the undo: %v", err)
		}
	}
	if errs[0] != nil || errs[1] != nil {
		t.Errorf("STOREs batched with a failing one: %v, %v", errs[0], errs[1])
	}
	if !errors.Is(errs[2], mailstore.ErrNoMailbox) {
		t.Errorf("STORE in a dropped mailbox: %v, want ErrNoMailbox", errs[2])
	}
	snap, err := inbox.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range snap.Messages.Messages() {
		if !hasFlag(m.Flags, `\Flagged`) {
			t.Errorf("UID %d: flags %v, want \\Flagged", m.UID, m.Flags)
		}
	}
	// The batch's renames were undone when it rolled back and made again
	// by each change's own commit: the files carry the flag and read.
	for uid, want := range map[uint32]string{1: "body a", 2: "body b"} {
		if got := readAll(t, inbox, uid); !strings.Contains(got, want) {
			t.Errorf("UID %d reads %q", uid, got)
		}
	}
	files, err := filepath.Glob(filepath.Join(us.maildir, "cur", "*:2,F"))
	if err != nil || len(files) != 2 {
		t.Errorf("files with F in cur/: %v (%v), want 2", files, err)
	}
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// TestFlagChangesSyncCur: under flag_sync always a STORE that renames a
// file (system flags) and an EXPUNGE that removes one log the name in the
// index's name log, in their commit, and cur/ is fsynced after they
// return (namelog.go); a keyword-only STORE renames nothing and logs
// nothing. An APPEND fsyncs cur/ before it returns. Under delayed flag
// sync nothing is logged (nothing is fsynced but an APPEND's cur/): the
// message is durable before its OK under either setting.
func TestFlagChangesSyncCur(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		delay  time.Duration
		logged []string // ops that log a name, and so sync cur/ after
	}{{"always", 0, []string{"seen", "expunge"}}, {"delayed", time.Hour, nil}} {
		t.Run(c.name, func(t *testing.T) {
			synced := make(chan string, 16)
			opts := Options{FlagSyncDelay: c.delay, nameSyncDelay: 10 * time.Millisecond}
			opts.dirSynced = func(dir string) { synced <- dir }
			s, _ := testStore(t, opts)
			mb := testMailbox(t, testUser(t, s, "alice"), "INBOX")
			cur := filepath.Join(mb.(*mailboxHandle).u.maildir, "cur")
			var logged []string
			for _, op := range []struct {
				name string
				do   func() error
			}{
				{"append", func() error {
					_, err := mb.Append(ctx, strings.NewReader(msg("a")), nil, time.Time{})
					return err
				}},
				{"keyword", func() error {
					_, _, err := mb.StoreFlags(ctx, []uint32{1}, mailstore.FlagsAdd, []string{"$Label1"}, 0)
					return err
				}},
				{"seen", func() error {
					_, _, err := mb.StoreFlags(ctx, []uint32{1}, mailstore.FlagsAdd, []string{`\Seen`, `\Deleted`}, 0)
					return err
				}},
				{"expunge", func() error {
					_, err := mb.Expunge(ctx, nil)
					return err
				}},
			} {
				before := nameLogOf(t, mb)
				if err := op.do(); err != nil {
					t.Fatalf("%s: %v", op.name, err)
				}
				if op.name == "append" {
					select {
					case d := <-synced:
						if d != cur {
							t.Errorf("append fsynced %s, want %s", d, cur)
						}
					default:
						t.Errorf("append returned before cur/ was fsynced")
					}
					continue
				}
				if !slices.ContainsFunc(nameLogOf(t, mb), func(e string) bool { return !slices.Contains(before, e) }) {
					continue
				}
				logged = append(logged, op.name)
				select {
				case d := <-synced:
					if d != cur {
						t.Errorf("%s: fsynced %s, want %s", op.name, d, cur)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("%s: cur/ not fsynced after the name was logged", op.name)
				}
			}
			if !slices.Equal(logged, c.logged) {
				t.Errorf("names logged by %v, want %v", logged, c.logged)
			}
		})
	}
}

// TestUnchangedCommitsNothing: a flag change or expunge that changes
// nothing (flags the message has, a UID that is gone, a failed
// UNCHANGEDSINCE, an EXPUNGE with nothing \Deleted) writes no page of
// the index, so it waits for no fdatasync, and under delayed flag sync
// it writes no marker either; one that changes something writes.
func TestUnchangedCommitsNothing(t *testing.T) {
	for _, setting := range []struct {
		name string
		opts Options
	}{{"always", Options{}}, {"delayed", Options{FlagSyncDelay: time.Hour}}} {
		t.Run(setting.name, func(t *testing.T) { testUnchangedCommitsNothing(t, setting.opts) })
	}
}

func testUnchangedCommitsNothing(t *testing.T, opts Options) {
	s, _ := testStore(t, opts)
	u := testUser(t, s, "alice")
	m := testMailbox(t, u, "INBOX")
	seen := mustAppend(t, m, msg("seen"), `\Seen`)
	unseen := mustAppend(t, m, msg("unseen"))
	us := m.(*mailboxHandle).u
	ctx := context.Background()
	store := func(uid uint32, op mailstore.StoreOp, flag string, since uint64) func() error {
		return func() error {
			_, _, err := m.StoreFlags(ctx, []uint32{uid}, op, []string{flag}, since)
			return err
		}
	}
	marker := filepath.Join(us.dir, unsyncedFile)
	for _, tc := range []struct {
		name   string
		change func() error
		writes bool
	}{
		{`+\Seen on a seen message`, store(seen, mailstore.FlagsAdd, `\Seen`, 0), false},
		{`-\Seen on an unseen message`, store(unseen, mailstore.FlagsRemove, `\Seen`, 0), false},
		{`a UID that is gone`, store(unseen+10, mailstore.FlagsAdd, `\Flagged`, 0), false},
		{`UNCHANGEDSINCE 1 fails`, store(seen, mailstore.FlagsAdd, `\Flagged`, 1), false},
		{`EXPUNGE with nothing \Deleted`, func() error { _, err := m.Expunge(ctx, nil); return err }, false},
		{`+\Seen on an unseen message`, store(unseen, mailstore.FlagsAdd, `\Seen`, 0), true},
		{`+$Label, a keyword new to the mailbox, on a message`, store(seen, mailstore.FlagsAdd, `$Label`, 0), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Under delayed flag sync, from a synced index without marker.
			if err := us.syncDelayed(); err != nil {
				t.Fatal(err)
			}
			st := us.db.Stats()
			before := st.TxStats.GetWrite()
			if err := tc.change(); err != nil {
				t.Fatal(err)
			}
			st = us.db.Stats()
			if wrote := st.TxStats.GetWrite() - before; (wrote > 0) != tc.writes {
				t.Errorf("%d pages written, want writes=%v", wrote, tc.writes)
			}
			if marked := exists(marker); opts.FlagSyncDelay > 0 && marked != tc.writes {
				t.Errorf("marker %v, want %v", marked, tc.writes)
			}
		})
	}
	// What was written is there after a reopen.
	m.Close()
	u.Close()
	m = testMailbox(t, testUser(t, s, "alice"), "INBOX")
	got := map[uint32]string{}
	v, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range v.Messages.All() {
		flags := slices.Sorted(slices.Values(msg.Flags))
		got[msg.UID] = strings.Join(flags, " ")
	}
	if want := map[uint32]string{seen: `$Label \Seen`, unseen: `\Seen`}; !maps.Equal(got, want) {
		t.Errorf("flags after reopen %v, want %v", got, want)
	}
}
