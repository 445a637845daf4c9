package maildir

import (
	"context"
	"fmt"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// TestKeptRecords checks the SortCache and the PreviewCache: records
// come back for the UIDs asked that have one, in order (dense and sparse
// sets, across the cursor's step and seek); none is kept for a message
// that is gone; and a record goes with its message's envelope when the
// expunge log is trimmed.
func TestKeptRecords(t *testing.T) {
	type cache struct {
		read func(h *mailboxHandle, ctx context.Context, uids []uint32, fn func(int, []byte)) error
		keep func(h *mailboxHandle, recs map[uint32][]byte) error
	}
	for name, c := range map[string]cache{
		"sort":    {(*mailboxHandle).SortRecords, (*mailboxHandle).KeepSortRecords},
		"preview": {(*mailboxHandle).Previews, (*mailboxHandle).KeepPreviews},
	} {
		t.Run(name, func(t *testing.T) { testKeptRecords(t, c.read, c.keep) })
	}
}

func testKeptRecords(t *testing.T, read func(h *mailboxHandle, ctx context.Context, uids []uint32, fn func(int, []byte)) error, keepRecs func(h *mailboxHandle, recs map[uint32][]byte) error) {
	ctx := context.Background()
	s, _ := testStore(t, Options{ExpungeLogLimit: 10})
	u := testUser(t, s, "alice")
	mb := testMailbox(t, u, "INBOX")
	h := mb.(*mailboxHandle)
	var uids []uint32
	for i := range 100 {
		uids = append(uids, mustAppend(t, mb, msg(fmt.Sprint(i))))
	}
	get := func(ask []uint32) map[uint32]string {
		t.Helper()
		got := map[uint32]string{}
		last := -1
		err := read(h, ctx, ask, func(i int, rec []byte) {
			if i <= last {
				t.Errorf("index %d after %d", i, last)
			}
			last = i
			got[ask[i]] = string(rec)
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := get(uids); len(got) != 0 {
		t.Fatalf("records before any was kept: %v", got)
	}
	keep := map[uint32][]byte{9999: []byte("gone")}
	for i, uid := range uids {
		if i%3 != 1 { // every third has none
			keep[uid] = []byte(fmt.Sprint("rec", uid))
		}
	}
	if err := keepRecs(h, keep); err != nil {
		t.Fatal(err)
	}
	for _, ask := range [][]uint32{uids, {uids[0], uids[50], uids[99], 9999}, uids[40:45], {9998, 9999}} {
		got := get(ask)
		for _, uid := range ask {
			want, ok := keep[uid]
			if uid == 9999 {
				ok = false
			}
			if rec, has := got[uid]; has != ok || has && rec != string(want) {
				t.Errorf("uid %d: got %q (%v), want %q (%v)", uid, rec, has, want, ok)
			}
		}
	}
	// Past the expunge log's limit the records go with the envelopes.
	first := uids[0]
	for _, uid := range uids[:12] {
		if _, _, err := mb.StoreFlags(ctx, []uint32{uid}, mailstore.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := mb.Expunge(ctx, []uint32{uid}); err != nil {
			t.Fatal(err)
		}
	}
	if got := get([]uint32{first, uids[99]}); got[first] != "" || got[uids[99]] != fmt.Sprint("rec", uids[99]) {
		t.Errorf("after the log's trim: %v", got)
	}
}

// TestEnvelopeOldVersionReread checks that an envelope kept by an older
// Dormouse, before References was kept (version 1), is read again from
// the message, so that THREAD sees the References.
func TestEnvelopeOldVersionReread(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "alice")
	mb := testMailbox(t, u, "INBOX")
	h := mb.(*mailboxHandle)
	uid := mustAppend(t, mb, "Subject: s\r\nReferences: <a@b>\r\nMessage-ID: <c@d>\r\n\r\nbody\r\n")
	err := h.update(func(m *mboxTx) error {
		b, err := m.b.CreateBucketIfNotExists(bktEnvelopes)
		if err != nil {
			return err
		}
		return b.Put(u32(uid), append([]byte{1}, "Subject: s\r\nMessage-ID: <c@d>\r\n\r\n"...))
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.EnvelopeHeaders(ctx, []uint32{uid})
	if want := "Subject: s\r\nReferences: <a@b>\r\nMessage-ID: <c@d>\r\n\r\n"; err != nil || string(got[0]) != want {
		t.Fatalf("envelope over a version-1 entry = %q, %v; want %q", got[0], err, want)
	}
}
