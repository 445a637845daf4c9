package maildir

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dormouse/dormouse/imapmsg"
)

// TestDeriveSortRecords: DeriveSortRecords gives derive each message's
// header parsed once, from its file when no envelope is kept (keeping the
// envelope and the record then) and from the kept envelope block
// otherwise (the file is not read again: here it was overwritten), in
// the order asked, nil for a message gone; what it keeps SortRecords and
// EnvelopeHeaders give back; a record kept before is made again (the
// caller asks only for records it cannot use).
func TestDeriveSortRecords(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "alice")
	mb := testMailbox(t, u, "INBOX")
	h := mb.(*mailboxHandle)
	a := mustAppend(t, mb, "Subject: first\r\nX-Other: x\r\n\r\nbody\r\n")
	b := mustAppend(t, mb, "From: b@example.org\nSubject: bare LF\n\nbody\n")
	c := mustAppend(t, mb, "Subject: third\r\n\r\nbody\r\n")
	subject := func(msg *imapmsg.Message) []byte { return []byte("rec:" + msg.Subject()) }

	// c's envelope is kept first; then its file says something else.
	if _, err := h.EnvelopeHeaders(ctx, []uint32{c}); err != nil {
		t.Fatal(err)
	}
	var path string
	if err := h.view(func(m *mboxTx) error {
		r, _, err := m.get(c, true)
		path = filepath.Join(m.dir, "cur", r.file)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("Subject: changed\r\n\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.KeepSortRecords(map[uint32][]byte{a: []byte("old version")}); err != nil {
		t.Fatal(err)
	}

	ask := []uint32{a, 999, b, c}
	want := []string{"rec:first", "", "rec:bare LF", "rec:third"}
	recs, blocks, err := h.DeriveSortRecords(ctx, ask, subject)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ask {
		if string(recs[i]) != want[i] || (want[i] == "") != (recs[i] == nil) {
			t.Errorf("uid %d: record %q, want %q", ask[i], recs[i], want[i])
		}
		if (want[i] == "") != (blocks[i] == nil) {
			t.Errorf("uid %d: envelope block %q", ask[i], blocks[i])
		}
	}
	kept := map[uint32]string{}
	if err := h.SortRecords(ctx, []uint32{a, b, c}, func(i int, rec []byte) { kept[[]uint32{a, b, c}[i]] = string(rec) }); err != nil {
		t.Fatal(err)
	}
	if kept[a] != "rec:first" || kept[b] != "rec:bare LF" || kept[c] != "rec:third" {
		t.Errorf("kept records: %v", kept)
	}
	// b's envelope was kept with its record: its file is not read again.
	if err := h.view(func(m *mboxTx) error {
		if v := m.envelopes.Get(u32(b)); len(v) == 0 || v[0] != envelopeVersion {
			t.Errorf("b's envelope not kept: %q", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
