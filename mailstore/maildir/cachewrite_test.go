package maildir

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// TestCacheWriteDeferred: envelope headers read from message files are
// not committed by the read (no commit, so no fdatasync to wait for); the
// user's next flag change carries them in its own commit, and without one
// they are committed alone within cacheWriteDelay.
func TestCacheWriteDeferred(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "alice")
	mb := testMailbox(t, u, "INBOX")
	h := mb.(*mailboxHandle)
	a := mustAppend(t, mb, "Subject: first\r\nFrom: a@example.org\r\n\r\nbody\r\n")
	b := mustAppend(t, mb, "Subject: second\r\n\r\nbody\r\n")
	forget := func() {
		t.Helper()
		err := h.update(func(m *mboxTx) error {
			env := m.b.Bucket(bktEnvelopes)
			for _, uid := range []uint32{a, b} {
				if err := env.Delete(u32(uid)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	state := func() (txid int, kept int) {
		t.Helper()
		err := h.u.view(func(tx *bolt.Tx) error {
			txid = tx.ID()
			m, err := h.load(tx)
			if err != nil {
				return err
			}
			for _, uid := range []uint32{a, b} {
				if m.envelopes != nil && m.envelopes.Get(u32(uid)) != nil {
					kept++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return txid, kept
	}
	read := func() {
		t.Helper()
		got, err := h.EnvelopeHeaders(ctx, []uint32{a, b})
		if err != nil {
			t.Fatal(err)
		}
		if string(got[0]) != "Subject: first\r\nFrom: a@example.org\r\n\r\n" || string(got[1]) != "Subject: second\r\n\r\n" {
			t.Fatalf("envelope headers %q", got)
		}
	}

	forget()
	tx0, _ := state()
	read()
	if tx1, kept := state(); tx1 != tx0 || kept != 0 {
		t.Fatalf("the read committed (transaction %d → %d, %d kept); want no commit", tx0, tx1, kept)
	}
	if _, _, err := mb.StoreFlags(ctx, []uint32{a}, mailstore.FlagsAdd, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	if tx2, kept := state(); tx2 != tx0+1 || kept != 2 {
		t.Fatalf("after a STORE: transaction %d (want %d: one commit for both), %d kept (want 2)", tx2, tx0+1, kept)
	}

	// No flag change: the write commits alone.
	forget()
	read()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, kept := state(); kept == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("envelope headers not kept 10 s after the read, with no flag change")
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, err := h.EnvelopeHeaders(ctx, []uint32{a})
	if err != nil || string(got[0]) != "Subject: first\r\nFrom: a@example.org\r\n\r\n" {
		t.Fatalf("kept envelope %q, %v", got, err)
	}
}
