package maildir

import (
	"context"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/mailstore"
)

// TestSharedList checks that views of one mailbox state share their
// message list, that a change gives the refreshed view its own copy
// without touching the others, and that the store keeps no list alive by
// itself once its linger is off (TestSharedListLinger).
func TestSharedList(t *testing.T) {
	s, _ := testStore(t, Options{})
	s.listLinger = 0
	u := testUser(t, s, "alice")
	m := testMailbox(t, u, "INBOX")
	ctx := context.Background()
	for range 4 {
		mustAppend(t, m, msg("m"))
	}
	// One handle per view, as one per session.
	var handles []mailstore.Mailbox
	view := func() *imapview.View {
		t.Helper()
		h, err := u.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
		v, err := imapview.Open(ctx, h, true)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	a, b := view(), view()
	if !sameList(a, b) {
		t.Fatal("two views of one state hold two lists")
	}

	if _, _, err := m.StoreFlags(ctx, []uint32{2}, mailstore.FlagsAdd, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, m, msg("five"))
	if _, err := imapview.Refresh(ctx, handles[0], a); err != nil {
		t.Fatal(err)
	}
	if sameList(a, b) || a.Len() != 5 || !reflect.DeepEqual(a.Messages.Flags(1), []string{`\Seen`}) {
		t.Fatalf("refreshed view: shared %v, %d messages, flags of 2 %v", sameList(a, b), a.Len(), a.Messages.Flags(1))
	}
	if b.Len() != 4 || len(b.Messages.Flags(1)) != 0 {
		t.Fatalf("the other view changed with it: %d messages, flags of 2 %v", b.Len(), b.Messages.Flags(1))
	}
	c := view()
	if sameList(c, b) || c.Len() != 5 {
		t.Fatalf("a view of the new state got the old list (%d messages)", c.Len())
	}
	d := view()
	if !sameList(c, d) {
		t.Fatal("two views of the new state do not share")
	}

	// Once no view holds the list, the store lets it go.
	id := func() uint64 {
		us := u.(*userHandle).u
		us.listMu.Lock()
		defer us.listMu.Unlock()
		for id := range us.lists {
			return id
		}
		t.Fatal("no list kept")
		return 0
	}()
	for _, h := range handles {
		h.Close()
	}
	a, b, c, d, handles = nil, nil, nil, nil, nil
	runtime.GC()
	runtime.GC()
	us := u.(*userHandle).u
	us.listMu.Lock()
	l := us.lists[id]
	us.listMu.Unlock()
	if _, ok := l.list.List(); ok {
		t.Fatal("the store keeps a list no view holds")
	}
}

// TestSharedListLinger checks that the store keeps a mailbox's list a
// while after its last view, so that the next view of the unchanged
// mailbox (a client that connects anew for each SELECT) takes it instead
// of reading every record again; that a change of the mailbox lets go of
// the old list when it commits (a session that changed a flag holds a
// copy of its own, and a million-message list is 64 MB); and that the
// linger ends.
func TestSharedListLinger(t *testing.T) {
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "alice")
	m := testMailbox(t, u, "INBOX")
	ctx := context.Background()
	for range 4 {
		mustAppend(t, m, msg("m"))
	}
	us := u.(*userHandle).u
	// view opens a view as a session does and lets go of it at once,
	// returning a weak pointer to the list it had.
	view := func() mailstore.WeakList {
		t.Helper()
		h, err := u.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		v, err := imapview.Open(ctx, h, true)
		if err != nil {
			t.Fatal(err)
		}
		return v.Messages.Weak()
	}
	gone := func(p mailstore.WeakList) bool {
		runtime.GC()
		runtime.GC()
		_, ok := p.List()
		return !ok
	}

	first := view()
	if gone(first) {
		t.Fatal("the list went with its last view")
	}
	if again := view(); !again.Same(first) {
		t.Fatal("a view of the unchanged mailbox read the list again")
	}

	if _, _, err := m.StoreFlags(ctx, []uint32{2}, mailstore.FlagsAdd, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	if !gone(first) {
		t.Fatal("the store still keeps the list of the mailbox before the change")
	}
	second := view()

	us.listMu.Lock()
	s.listLinger = 10 * time.Millisecond
	us.listMu.Unlock()
	if !view().Same(second) {
		t.Fatal("a view of the unchanged mailbox read the list again")
	}
	deadline := time.Now().Add(30 * time.Second)
	for !gone(second) {
		if time.Now().After(deadline) {
			t.Fatal("the list outlived its linger")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sameList reports whether two views share the table of their list's
// blocks (the store handed both the same list, and neither wrote it).
func sameList(a, b *imapview.View) bool {
	return a.Messages.Weak().Same(b.Messages.Weak())
}
