package maildir

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// TestEarlyEventBeforeMove: a delivery into new/ is announced before its
// file moves to cur/, and committed once it has. When another program
// takes the file from new/ in between (a mail client moving it to cur/
// itself), the announced UID is expunged in the same transaction, and the
// file gets a new UID under its new name.
func TestEarlyEventBeforeMove(t *testing.T) {
	var once sync.Once
	var moved func()
	s, root := testStore(t, Options{beforeMoves: func() { once.Do(func() { moved() }) }})
	ctx := context.Background()
	u := testUser(t, s, "gus")
	m := testMailbox(t, u, "INBOX")
	mustAppend(t, m, msg("old"))
	w := watchEventsAll(t, s, "gus", "INBOX", true)
	md := filepath.Join(root, "users/gus/Maildir")
	deliver := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(md, "tmp", name), []byte(msg(name)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(md, "tmp", name), filepath.Join(md, "new", name)); err != nil {
			t.Fatal(err)
		}
	}

	// Undisturbed: announced, then committed with the file in cur/.
	inNew := func(name string) bool { _, err := os.Stat(filepath.Join(md, "new", name)); return err == nil }
	var stillInNew bool
	moved = func() { stillInNew = inNew("1700000000.a.host") }
	sleepMs(50) // the append's events are applied
	w.drain()
	deliver("1700000000.a.host")
	early := w.wait(t, mailstore.MessagesAdded, eventDeadline)
	if early.Early == nil || !reflect.DeepEqual(early.UIDs, []uint32{2}) {
		t.Fatalf("first event %+v, want early UID 2", early)
	}
	late := w.wait(t, mailstore.MessagesAdded, eventDeadline)
	if late.Early != nil || !reflect.DeepEqual(late.UIDs, []uint32{2}) {
		t.Fatalf("second event %+v, want the committed UID 2", late)
	}
	if !stillInNew {
		t.Fatal("the file had left new/ before the announcement")
	}
	if got := readAll(t, m, 2); got != msg("1700000000.a.host") {
		t.Fatalf("UID 2 holds %q", got)
	}

	// Taken from new/ between the announcement and the move.
	once = sync.Once{}
	moved = func() {
		os.Rename(filepath.Join(md, "new", "1700000001.b.host"), filepath.Join(md, "cur", "1700000001.b.host:2,S"))
	}
	// After a quiet spell, so that the delivery is a batch of its own
	// (the echoes of the first move come within EventDelay).
	sleepMs(50)
	w.drain()
	deliver("1700000001.b.host")
	early = w.wait(t, mailstore.MessagesAdded, eventDeadline)
	if early.Early == nil || !reflect.DeepEqual(early.UIDs, []uint32{3}) {
		t.Fatalf("event %+v, want early UID 3", early)
	}
	gone := w.wait(t, mailstore.MessagesExpunged, eventDeadline)
	if !reflect.DeepEqual(gone.UIDs, []uint32{3}) || gone.HighestModSeq <= early.HighestModSeq {
		t.Fatalf("event %+v, want UID 3 expunged after MODSEQ %d", gone, early.HighestModSeq)
	}
	again := w.wait(t, mailstore.MessagesAdded, eventDeadline)
	if !reflect.DeepEqual(again.UIDs, []uint32{4}) {
		t.Fatalf("event %+v, want the moved file as UID 4", again)
	}
	v, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, msg := range v.Messages.Messages() {
		uids = append(uids, msg.UID)
	}
	if !reflect.DeepEqual(uids, []uint32{1, 2, 4}) {
		t.Fatalf("UIDs %v, want [1 2 4]", uids)
	}
	if got := readAll(t, m, 4); got != msg("1700000001.b.host") {
		t.Fatalf("UID 4 holds %q", got)
	}
}

// TestDeferredMoveSameBase: two files of one batch in new/ with the same
// base both get a UID and a file of their own in cur/; the second is not
// taken for the first's move lost in a crash while the first's is pending.
func TestDeferredMoveSameBase(t *testing.T) {
	s, root := testStore(t, Options{NoSync: true})
	ctx := context.Background()
	uh := testUser(t, s, "hal")
	uh.Close() // nothing watches the mailbox: only the call below syncs
	md := filepath.Join(root, "users/hal/Maildir")
	names := []string{"1700000000.c.host", "1700000000.c.host:2,S"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(md, "new", n), []byte(msg(n)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	u, err := s.acquire("hal")
	if err != nil {
		t.Fatal(err)
	}
	_, err = u.syncMailbox("INBOX", false, names, nil)
	s.release(u)
	if err != nil {
		t.Fatal(err)
	}
	uh = testUser(t, s, "hal")
	m := testMailbox(t, uh, "INBOX")
	v, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.Messages.Len() != 2 {
		t.Fatalf("%d messages, want 2", v.Messages.Len())
	}
	got := map[string]bool{}
	for _, msg := range v.Messages.Messages() {
		got[readAll(t, m, msg.UID)] = true
	}
	if !got[msg(names[0])] || !got[msg(names[1])] {
		t.Fatalf("messages hold %v", got)
	}
	if left, _ := os.ReadDir(filepath.Join(md, "new")); len(left) != 0 {
		t.Fatalf("%d files left in new/", len(left))
	}
}
