package maildir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

func names(t *testing.T, u mailstore.User) map[string]mailstore.MailboxInfo {
	t.Helper()
	list, err := u.Mailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]mailstore.MailboxInfo{}
	for _, i := range list {
		out[i.Name] = i
	}
	return out
}

func TestMailboxNames(t *testing.T) {
	tests := []struct {
		name, canon, dir string
		bad              bool
	}{
		{"inbox", "INBOX", "", false},
		{"Inbox/Sub", "INBOX/Sub", ".INBOX.Sub", false},
		{"a/b.c", "a/b.c", ".a.b%2Ec", false},
		{"100%", "100%", ".100%25", false},
		{"Ünïcödé/日本", "Ünïcödé/日本", ".Ünïcödé.日本", false},
		{"", "", "", true},
		{"/a", "", "", true},
		{"a/", "", "", true},
		{"a//b", "", "", true},
		{"..", "", "", true},
		{"a/../b", "", "", true},
		{"a/./b", "", "", true},
		{"a\x00b", "", "", true},
		{"a\nb", "", "", true},
		{"a\x7fb", "", "", true},
		{strings.Repeat("x", 256), "", "", true},
		{strings.Repeat("x/", 130) + "x", "", "", true}, // too long as one folder
		{"\xff", "", "", true},
	}
	for _, tc := range tests {
		c, err := canonicalName(tc.name)
		if tc.bad {
			if !errors.Is(err, mailstore.ErrBadName) {
				t.Errorf("%q: want ErrBadName, got %q, %v", tc.name, c, err)
			}
			continue
		}
		if err != nil || c != tc.canon || dirName(c) != tc.dir {
			t.Errorf("%q: got %q %q %v", tc.name, c, dirName(c), err)
			continue
		}
		if tc.dir != "" {
			if back, ok := nameFromDir(tc.dir); !ok || back != c {
				t.Errorf("%q: nameFromDir gives %q %v", tc.dir, back, ok)
			}
		}
	}
	for _, d := range []string{".", "..", "..deleted-1", ".a..b", ".a%zz"} {
		if n, ok := nameFromDir(d); ok {
			t.Errorf("folder %q taken as mailbox %q", d, n)
		}
	}
}

func TestCreateDeleteRename(t *testing.T) {
	s, root := testStore(t, Options{})
	u := testUser(t, s, "erin")
	ctx := context.Background()
	md := filepath.Join(root, "users", "erin", "Maildir")
	ev := watchEvents(t, s, "erin", "")

	// Create makes missing parents.
	if err := u.CreateMailbox(ctx, "Work/2026/Q1", ""); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, mailstore.MailboxCreated, time.Second)
	n := names(t, u)
	for _, want := range []string{"Work", "Work/2026", "Work/2026/Q1"} {
		if _, ok := n[want]; !ok || n[want].NoSelect {
			t.Fatalf("missing %s: %+v", want, n)
		}
	}
	if err := u.CreateMailbox(ctx, "Work", ""); !errors.Is(err, mailstore.ErrMailboxExists) {
		t.Fatalf("create existing: %v", err)
	}
	if err := u.CreateMailbox(ctx, "inbox", ""); !errors.Is(err, mailstore.ErrMailboxExists) {
		t.Fatalf("create INBOX: %v", err)
	}
	if err := u.CreateMailbox(ctx, "../escape", ""); !errors.Is(err, mailstore.ErrBadName) {
		t.Fatalf("create ../escape: %v", err)
	}
	if err := u.CreateMailbox(ctx, "Flagged", `\Flagged`); err != nil {
		t.Fatal(err)
	}
	if names(t, u)["Flagged"].SpecialUse != `\Flagged` {
		t.Fatal("special use not kept")
	}

	// Rename moves children and keeps messages and UIDVALIDITY.
	m := testMailbox(t, u, "Work/2026")
	uid := mustAppend(t, m, msg("w"))
	uv := m.UIDValidity()
	m.Close()
	if err := u.RenameMailbox(ctx, "Work", "Job"); err != nil {
		t.Fatal(err)
	}
	rev := ev.wait(t, mailstore.MailboxRenamed, time.Second)
	if rev.OldName == "" {
		t.Fatalf("rename event %+v", rev)
	}
	n = names(t, u)
	if _, ok := n["Work"]; ok {
		t.Fatal("Work still there")
	}
	for _, want := range []string{"Job", "Job/2026", "Job/2026/Q1"} {
		if _, ok := n[want]; !ok {
			t.Fatalf("missing %s after rename", want)
		}
	}
	m = testMailbox(t, u, "Job/2026")
	if m.UIDValidity() != uv || readAll(t, m, uid) != msg("w") {
		t.Fatal("rename lost messages or UIDVALIDITY")
	}
	if err := u.RenameMailbox(ctx, "Job", "Job/x"); err == nil {
		t.Fatal("renamed into itself")
	}
	if err := u.RenameMailbox(ctx, "Nope", "X"); !errors.Is(err, mailstore.ErrNoMailbox) {
		t.Fatalf("rename missing: %v", err)
	}
	if err := u.RenameMailbox(ctx, "Job", "Sent"); !errors.Is(err, mailstore.ErrMailboxExists) {
		t.Fatalf("rename onto existing: %v", err)
	}

	// Delete with children: emptied, kept \Noselect.
	if err := u.DeleteMailbox(ctx, "Job/2026"); err != nil {
		t.Fatal(err)
	}
	if !names(t, u)["Job/2026"].NoSelect {
		t.Fatal("parent not \\Noselect")
	}
	if _, err := u.Mailbox(ctx, "Job/2026"); !errors.Is(err, mailstore.ErrNoMailbox) {
		t.Fatalf("select noselect: %v", err)
	}
	if _, err := u.Status(ctx, "Job/2026"); !errors.Is(err, mailstore.ErrNoMailbox) {
		t.Fatalf("status of noselect: %v", err)
	}
	if _, err := u.(*userHandle).DeletedStorage(ctx, "Job/2026"); !errors.Is(err, mailstore.ErrNoMailbox) {
		t.Fatalf("deleted storage of noselect: %v", err)
	}
	if err := u.DeleteMailbox(ctx, "Job/2026"); !errors.Is(err, mailstore.ErrHasChildren) {
		t.Fatalf("delete noselect with children: %v", err)
	}
	// Delete a leaf: gone from disk.
	if err := u.DeleteMailbox(ctx, "Job/2026/Q1"); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, mailstore.MailboxDeleted, time.Second)
	if _, err := os.Stat(filepath.Join(md, ".Job.2026.Q1")); !os.IsNotExist(err) {
		t.Fatalf("folder left: %v", err)
	}
	if err := u.DeleteMailbox(ctx, "INBOX"); !errors.Is(err, mailstore.ErrNotAllowed) {
		t.Fatalf("delete INBOX: %v", err)
	}
	if err := u.DeleteMailbox(ctx, "Nope"); !errors.Is(err, mailstore.ErrNoMailbox) {
		t.Fatalf("delete missing: %v", err)
	}
	// Create again: a new UIDVALIDITY.
	if err := u.CreateMailbox(ctx, "Job/2026/Q1", ""); err != nil {
		t.Fatal(err)
	}
	st, _ := u.Status(ctx, "Job/2026/Q1")
	if st.UIDValidity <= uv {
		t.Fatalf("recreated mailbox reuses UIDVALIDITY %d (was %d)", st.UIDValidity, uv)
	}
}

func TestRenameInbox(t *testing.T) {
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "fay")
	ctx := context.Background()
	in := testMailbox(t, u, "INBOX")
	mustAppend(t, in, msg("1"), `\Seen`)
	mustAppend(t, in, msg("2"))
	if err := u.CreateMailbox(ctx, "INBOX/child", ""); err != nil {
		t.Fatal(err)
	}
	if err := u.RenameMailbox(ctx, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	st, _ := u.Status(ctx, "INBOX")
	if st.Messages != 0 {
		t.Fatalf("INBOX keeps %d", st.Messages)
	}
	st, _ = u.Status(ctx, "Old")
	if st.Messages != 2 || st.Unseen != 1 {
		t.Fatalf("Old %+v", st)
	}
	if _, ok := names(t, u)["INBOX/child"]; !ok {
		t.Fatal("INBOX child moved")
	}
}

func TestSubscriptions(t *testing.T) {
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "gus")
	ctx := context.Background()
	if err := u.SetSubscribed(ctx, "Trash", false); err != nil {
		t.Fatal(err)
	}
	if err := u.SetSubscribed(ctx, "Nonexistent/Child", true); err != nil {
		t.Fatal(err)
	}
	if names(t, u)["Trash"].Subscribed {
		t.Fatal("still subscribed")
	}
	// Subscriptions to names that do not exist are kept (RFC 9051 6.3.7);
	// LIST shows only mailboxes, so check the index.
	u.Close()
	u = testUser(t, s, "gus")
	if err := u.CreateMailbox(ctx, "Nonexistent/Child", ""); err != nil {
		t.Fatal(err)
	}
	if !names(t, u)["Nonexistent/Child"].Subscribed {
		t.Fatal("subscription to a future name lost")
	}
}

func TestCopyMove(t *testing.T) {
	s, root := testStore(t, Options{})
	u := testUser(t, s, "hal")
	ctx := context.Background()
	src := testMailbox(t, u, "INBOX")
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if _, err := src.Append(ctx, strings.NewReader(msg("c")), []string{`\Flagged`, "Kw"}, date); err != nil {
			t.Fatal(err)
		}
	}
	dst := testMailbox(t, u, "Archive")
	mustAppend(t, dst, msg("already"))
	res, err := src.Copy(ctx, []uint32{1, 3, 7}, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.SourceUIDs, []uint32{1, 3}) || !reflect.DeepEqual(res.DestUIDs, []uint32{2, 3}) || res.UIDValidity != dst.UIDValidity() {
		t.Fatalf("copy %+v", res)
	}
	v, _ := dst.Snapshot(ctx)
	if m := v.Messages.At(1); !m.InternalDate.Time().Equal(date) || !reflect.DeepEqual(m.Flags, []string{"Kw", `\Flagged`}) {
		t.Fatalf("copied %+v", m)
	}
	// Hard links: same inode.
	a, _ := filepath.Glob(filepath.Join(root, "users/hal/Maildir/cur/*"))
	fi1, _ := os.Stat(a[0])
	if st, ok := fi1.Sys().(interface{ Nlink() uint64 }); ok && st.Nlink() < 2 {
		t.Log("not hard-linked")
	}
	if _, err := src.Copy(ctx, []uint32{1}, "Nope"); !errors.Is(err, mailstore.ErrNoMailbox) {
		t.Fatalf("copy to missing: %v", err)
	}
	ev := watchEvents(t, s, "hal", "INBOX")
	res, err = src.Move(ctx, []uint32{2}, "Archive")
	if err != nil || !reflect.DeepEqual(res.DestUIDs, []uint32{4}) {
		t.Fatalf("move %+v %v", res, err)
	}
	if e := ev.wait(t, mailstore.MessagesExpunged, time.Second); !reflect.DeepEqual(e.UIDs, []uint32{2}) {
		t.Fatalf("move event %+v", e)
	}
	sv, _ := src.Snapshot(ctx)
	if got := uidsOf(sv.Messages.Messages()); !reflect.DeepEqual(got, []uint32{1, 3}) {
		t.Fatalf("source after move %v", got)
	}
	if readAll(t, dst, 4) != msg("c") {
		t.Fatal("moved content")
	}
	ch, _ := src.ChangesSince(ctx, 1)
	if !reflect.DeepEqual(ch.Expunged, []uint32{2}) {
		t.Fatalf("expunge log %v", ch.Expunged)
	}
}

func TestAppendManyAndLimits(t *testing.T) {
	s, root := testStore(t, Options{MaxMessageSize: 100})
	u := testUser(t, s, "ida")
	m := testMailbox(t, u, "INBOX")
	ctx := context.Background()
	uids, err := m.AppendMany(ctx, []mailstore.AppendRequest{
		{Body: strings.NewReader(msg("a"))}, {Body: strings.NewReader(msg("b")), Flags: []string{`\Draft`}},
	})
	if err != nil || !reflect.DeepEqual(uids, []uint32{1, 2}) {
		t.Fatalf("appendmany %v %v", uids, err)
	}
	// All or none: the second is too big, so neither is stored.
	_, err = m.AppendMany(ctx, []mailstore.AppendRequest{
		{Body: strings.NewReader(msg("c"))}, {Body: strings.NewReader(strings.Repeat("x", 200))},
	})
	if !errors.Is(err, mailstore.ErrTooBig) {
		t.Fatalf("too big: %v", err)
	}
	st, _ := u.Status(ctx, "INBOX")
	if st.Messages != 2 || st.UIDNext != 3 {
		t.Fatalf("status after failed appendmany %+v", st)
	}
	for _, d := range []string{"tmp", "new"} {
		if left, _ := os.ReadDir(filepath.Join(root, "users/ida/Maildir", d)); len(left) != 0 {
			t.Fatalf("%s/ not clean: %d files", d, len(left))
		}
	}
}

func TestUserNames(t *testing.T) {
	s, _ := testStore(t, Options{})
	for _, n := range []string{"", "..", "a/b", ".hidden", "x\x00"} {
		if _, err := s.User(context.Background(), n); err == nil {
			t.Errorf("user %q accepted", n)
		}
	}
}
