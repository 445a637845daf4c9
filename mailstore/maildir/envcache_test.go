package maildir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

func TestEnvelopeHeaders(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "alice")
	mb := testMailbox(t, u, "INBOX")
	h := mb.(*mailboxHandle)
	a := mustAppend(t, mb, "Subject: first\r\nX-Spam: no\r\nFrom: a@example.org\r\n\r\nbody Subject: not this\r\n")
	b := mustAppend(t, mb, "From: b@example.org\nSubject: bare\n  LF\n\nbody\n") // bare LFs, as MDAs write
	c := mustAppend(t, mb, "X-Only: nothing ENVELOPE reports\r\n\r\nbody\r\n")

	want := map[uint32]string{
		a: "Subject: first\r\nFrom: a@example.org\r\n\r\n",
		b: "From: b@example.org\r\nSubject: bare\r\n  LF\r\n\r\n",
		c: "\r\n",
	}
	ask := []uint32{c, 999, a, b}
	check := func(when string) {
		t.Helper()
		got, err := h.EnvelopeHeaders(ctx, ask)
		if err != nil {
			t.Fatal(err)
		}
		for i, uid := range ask {
			if w, ok := want[uid]; ok && string(got[i]) != w {
				t.Errorf("%s: uid %d: got %q, want %q", when, uid, got[i], w)
			}
			if _, ok := want[uid]; !ok && got[i] != nil {
				t.Errorf("%s: uid %d (none) got %q", when, uid, got[i])
			}
		}
	}
	check("read from the messages")

	// Kept: a changed file (which a store never does) does not show.
	var path string
	if err := h.view(func(m *mboxTx) error {
		r, _, err := m.get(a, true)
		path = filepath.Join(m.dir, "cur", r.file)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("Subject: changed\r\n\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check("kept in the index")

	// An expunged message keeps its entry while its expunge is logged
	// (TestExpungedKept), for sessions not told of it yet.
	if _, _, err := mb.StoreFlags(ctx, []uint32{a}, mailstore.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Expunge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	check("after expunge")
	err := h.u.view(func(tx *bolt.Tx) error {
		m, err := h.load(tx)
		if err != nil {
			return err
		}
		if m.envelopes.Get(u32(b)) == nil {
			t.Error("a kept envelope is gone")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestExpungedKept: a message Dormouse expunges keeps, for as long as the
// expunge log holds its expunge, its record (ExpungedMessages) and its
// envelope header, read from its file at the expunge when no client had
// asked for it; the log's trim drops both.
func TestExpungedKept(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t, Options{ExpungeLogLimit: 10})
	u := testUser(t, s, "alice")
	mb := testMailbox(t, u, "INBOX")
	h := mb.(*mailboxHandle)
	first := mustAppend(t, mb, msg("first"), `\Flagged`)
	v, err := mb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expunge := func(uid uint32) {
		t.Helper()
		if _, _, err := mb.StoreFlags(ctx, []uint32{uid}, mailstore.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := mb.Expunge(ctx, []uint32{uid}); err != nil {
			t.Fatal(err)
		}
	}
	expunge(first)
	got, err := h.EnvelopeHeaders(ctx, []uint32{first})
	if err != nil || string(got[0]) != "From: a@example.org\r\nSubject: first\r\n\r\n" {
		t.Fatalf("envelope of the expunged message: %q, %v", got, err)
	}
	gone, err := h.ExpungedMessages(ctx, v.HighestModSeq)
	if err != nil || len(gone) != 1 || gone[0].UID != first || gone[0].Size != v.Messages[0].Size ||
		gone[0].InternalDate != v.Messages[0].InternalDate ||
		!reflect.DeepEqual(gone[0].Flags, []string{`\Deleted`, `\Flagged`}) {
		t.Fatalf("expunged records %+v, %v; the view had %+v", gone, err, v.Messages)
	}
	// Past the log's limit the entries go, with the log's.
	for i := range 12 {
		expunge(mustAppend(t, mb, msg(fmt.Sprint(i))))
	}
	if got, err := h.EnvelopeHeaders(ctx, []uint32{first}); err != nil || got[0] != nil {
		t.Fatalf("envelope after the log's trim: %q, %v", got, err)
	}
	if _, err := h.ExpungedMessages(ctx, v.HighestModSeq); err != nil {
		t.Fatal(err)
	}
}
