package maildir

import (
	"context"
	"os"
	"path/filepath"
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

	// An expunged message takes its entry with it.
	if _, _, err := mb.StoreFlags(ctx, []uint32{a}, mailstore.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Expunge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	delete(want, a)
	check("after expunge")
	err := h.u.view(func(tx *bolt.Tx) error {
		m, err := h.load(tx)
		if err != nil {
			return err
		}
		if m.envelopes.Get(u32(a)) != nil {
			t.Error("the expunged message's envelope is still kept")
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
