package maildir

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// emailIDOf returns the EMAILID of one message of m.
func emailIDOf(t *testing.T, m mailstore.Mailbox, uid uint32) string {
	t.Helper()
	ids, err := m.(mailstore.ObjectIDs).EmailIDs(context.Background(), []uint32{uid})
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] == "" {
		t.Fatalf("uid %d has no EMAILID", uid)
	}
	return ids[0]
}

func mailboxIDOf(t *testing.T, u mailstore.User, name string) string {
	t.Helper()
	st, err := u.Status(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if st.MailboxID == "" {
		t.Fatalf("%s has no MAILBOXID", name)
	}
	m := testMailbox(t, u, name)
	if got := m.(mailstore.ObjectIDs).MailboxID(); got != st.MailboxID {
		t.Fatalf("%s: handle says MAILBOXID %s, STATUS %s", name, got, st.MailboxID)
	}
	return st.MailboxID
}

// TestObjectIDs checks the RFC 8474 identifiers: a MAILBOXID that RENAME
// keeps and a re-created name does not, EMAILIDs that differ between
// messages, that COPY and MOVE keep (5.1), and that survive a restart of
// the store.
func TestObjectIDs(t *testing.T) {
	ctx := context.Background()
	s, root := testStore(t, Options{NoSync: true})
	u := testUser(t, s, "alice")
	if err := u.CreateMailbox(ctx, "A", ""); err != nil {
		t.Fatal(err)
	}
	idA := mailboxIDOf(t, u, "A")
	if idA == mailboxIDOf(t, u, "INBOX") {
		t.Fatalf("A and INBOX share MAILBOXID %s", idA)
	}
	if err := u.RenameMailbox(ctx, "A", "B"); err != nil {
		t.Fatal(err)
	}
	if got := mailboxIDOf(t, u, "B"); got != idA {
		t.Fatalf("after RENAME A B: MAILBOXID %s, want %s", got, idA)
	}
	if err := u.CreateMailbox(ctx, "A", ""); err != nil {
		t.Fatal(err)
	}
	if got := mailboxIDOf(t, u, "A"); got == idA {
		t.Fatalf("a new A got the old A's MAILBOXID %s", got)
	}
	if err := u.DeleteMailbox(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	if err := u.CreateMailbox(ctx, "B", ""); err != nil {
		t.Fatal(err)
	}
	idB := mailboxIDOf(t, u, "B")
	if idB == idA {
		t.Fatalf("B deleted and created again kept MAILBOXID %s", idB)
	}

	inbox := testMailbox(t, u, "INBOX")
	one, two := mustAppend(t, inbox, msg("one")), mustAppend(t, inbox, msg("two"))
	e1, e2 := emailIDOf(t, inbox, one), emailIDOf(t, inbox, two)
	if e1 == e2 {
		t.Fatalf("two messages share EMAILID %s", e1)
	}
	// Flag changes rewrite the record: the EMAILID stays.
	if _, _, err := inbox.StoreFlags(ctx, []uint32{one}, mailstore.FlagsAdd, []string{`\Seen`, "kw"}, 0); err != nil {
		t.Fatal(err)
	}
	if got := emailIDOf(t, inbox, one); got != e1 {
		t.Fatalf("after STORE: EMAILID %s, want %s", got, e1)
	}
	cp, err := inbox.Copy(ctx, []uint32{one}, "B")
	if err != nil {
		t.Fatal(err)
	}
	mv, err := inbox.Move(ctx, []uint32{two}, "B")
	if err != nil {
		t.Fatal(err)
	}
	b := testMailbox(t, u, "B")
	if got := emailIDOf(t, b, cp.DestUIDs[0]); got != e1 {
		t.Fatalf("COPY: EMAILID %s, want the source's %s", got, e1)
	}
	if got := emailIDOf(t, b, mv.DestUIDs[0]); got != e2 {
		t.Fatalf("MOVE: EMAILID %s, want the source's %s", got, e2)
	}
	// The moved message is gone from INBOX, but a session not told yet
	// still sees it: its EMAILID comes from the expunge log.
	if got := emailIDOf(t, inbox, two); got != e2 {
		t.Fatalf("expunged by MOVE: EMAILID %s, want %s", got, e2)
	}
	three := mustAppend(t, inbox, msg("three"))
	e3 := emailIDOf(t, inbox, three)
	if e3 == e1 || e3 == e2 {
		t.Fatalf("a new message got an old EMAILID %s", e3)
	}

	// Everything lasts a restart.
	inbox.Close()
	b.Close()
	u.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(root, Options{NoSync: true, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	u2 := testUser(t, s2, "alice")
	if got := mailboxIDOf(t, u2, "B"); got != idB {
		t.Fatalf("after restart: B's MAILBOXID %s, want %s", got, idB)
	}
	inbox2, b2 := testMailbox(t, u2, "INBOX"), testMailbox(t, u2, "B")
	for _, c := range []struct {
		m    mailstore.Mailbox
		uid  uint32
		want string
	}{{inbox2, one, e1}, {inbox2, three, e3}, {b2, cp.DestUIDs[0], e1}, {b2, mv.DestUIDs[0], e2}} {
		if got := emailIDOf(t, c.m, c.uid); got != c.want {
			t.Errorf("after restart: %s uid %d EMAILID %s, want %s", c.m.Name(), c.uid, got, c.want)
		}
	}
	if e4 := emailIDOf(t, inbox2, mustAppend(t, inbox2, msg("four"))); e4 == e1 || e4 == e2 || e4 == e3 {
		t.Fatalf("after restart a new message got an old EMAILID %s", e4)
	}
}

// TestEmailIDOlderRecord: a record written before EMAILIDs were kept (no
// trailing field) still has a stable EMAILID, which a MOVE carries along.
func TestEmailIDOlderRecord(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t, Options{NoSync: true})
	u := testUser(t, s, "alice")
	inbox := testMailbox(t, u, "INBOX")
	uid := mustAppend(t, inbox, msg("old"))
	// Rewrite the record as an older version wrote it.
	us, err := s.acquire("alice")
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(us)
	err = us.update(func(tx *bolt.Tx) error {
		m, err := us.openMbox(tx, "INBOX")
		if err != nil {
			return err
		}
		r, _, err := m.get(uid, true)
		if err != nil {
			return err
		}
		v := r.encode()
		// Drop the trailing EMAILID.
		n := len(binary.AppendUvarint(nil, r.emailID))
		return m.msgs.Put(u32(uid), v[:len(v)-n])
	})
	if err != nil {
		t.Fatal(err)
	}
	old := emailIDOf(t, inbox, uid)
	if old != formatEmailID(uint64(inbox.UIDValidity())<<32|uint64(uid)) {
		t.Fatalf("EMAILID of an older record %s: not made of UIDVALIDITY and UID", old)
	}
	if again := emailIDOf(t, inbox, uid); again != old {
		t.Fatalf("EMAILID of an older record changes: %s then %s", old, again)
	}
	res, err := inbox.Move(ctx, []uint32{uid}, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if got := emailIDOf(t, testMailbox(t, u, "Archive"), res.DestUIDs[0]); got != old {
		t.Fatalf("MOVE of an older record: EMAILID %s, want %s", got, old)
	}
}

// TestEmailIDTrimmedLog: a message expunged and trimmed from the expunge
// log, which a session may still show, still has an EMAILID (it may not
// be NIL): the one its UID gave it here.
func TestEmailIDTrimmedLog(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t, Options{NoSync: true, ExpungeLogLimit: 2})
	u := testUser(t, s, "alice")
	inbox := testMailbox(t, u, "INBOX")
	first := mustAppend(t, inbox, msg("first"))
	want := emailIDOf(t, inbox, first)
	for i := range 5 {
		mustAppend(t, inbox, msg(fmt.Sprint("more ", i)))
	}
	all := []uint32{first, 2, 3, 4, 5, 6}
	if _, _, err := inbox.StoreFlags(ctx, all, mailstore.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	for _, uid := range all {
		if _, err := inbox.Expunge(ctx, []uint32{uid}); err != nil {
			t.Fatal(err)
		}
	}
	if got := emailIDOf(t, inbox, first); got != want {
		t.Fatalf("trimmed from the log: EMAILID %s, want %s", got, want)
	}
}
