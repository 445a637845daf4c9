package maildir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// checkChangesSince checks that mb's ChangesSince from MODSEQs all
// through the mailbox's range reports exactly the messages of msgs (the
// mailbox's current view) with a higher MODSEQ, and the UIDs of expunged
// (UID -> the MODSEQ of its expunge) expunged after it.
func checkChangesSince(t *testing.T, mb mailstore.Mailbox, msgs []mailstore.Message, expunged map[uint32]uint64) {
	t.Helper()
	highest := uint64(1)
	for _, m := range msgs {
		highest = max(highest, m.ModSeq)
	}
	for _, ms := range expunged {
		highest = max(highest, ms)
	}
	for since := uint64(0); since <= highest+1; since++ {
		if since > 5 && since+5 < highest && since%13 != 0 {
			continue
		}
		ch, err := mb.ChangesSince(context.Background(), since)
		if err != nil {
			t.Fatalf("ChangesSince(%d): %v", since, err)
		}
		var want []mailstore.Message
		for _, m := range msgs {
			if m.ModSeq > since {
				want = append(want, m)
			}
		}
		if !slices.EqualFunc(ch.Changed, want, sameMessage) {
			t.Errorf("ChangesSince(%d): changed %v, want %v", since, uidsOf(ch.Changed), uidsOf(want))
		}
		var wantGone []uint32
		for uid, ms := range expunged {
			if ms > since {
				wantGone = append(wantGone, uid)
			}
		}
		slices.Sort(wantGone)
		if !slices.Equal(ch.Expunged, wantGone) {
			t.Errorf("ChangesSince(%d): expunged %v, want %v", since, ch.Expunged, wantGone)
		}
	}
}

// TestChangesSinceAfterBulk: after a first open that wrote no MODSEQ
// entries (modseqlog.go), flag changes of bulk messages and of others,
// expunges, a delivery and a copy of many files into cur/ (a second
// bulk, allowed or not), CHANGEDSINCE from every MODSEQ is exact, and
// stays so after a restart.
func TestChangesSinceAfterBulk(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	md := filepath.Join(root, "users", "fay", "Maildir")
	var files []firstOpenFile
	for i := range unloggedMin + 100 {
		files = append(files, firstOpenFile{sub: "cur", name: fmt.Sprintf("%d.M3P3Q%d.bulk:2,", 1_700_002_000+i, i), body: "Subject: s\r\n\r\nb\r\n"})
	}
	writeFirstOpenFiles(t, md, files)
	opts := Options{Logger: discardLogger()}
	s, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	open := func() mailstore.Mailbox {
		u, err := s.User(ctx, "fay")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		mb, err := u.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mb.Close() })
		return mb
	}
	view := func(mb mailstore.Mailbox) []mailstore.Message {
		snap, err := mb.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return snap.Messages.Messages()
	}
	unlogged := func(mb mailstore.Mailbox) (un, highest uint64) {
		err := mb.(*mailboxHandle).view(func(m *mboxTx) error {
			un, highest = m.meta.unloggedModSeq, m.meta.highestModSeq
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return un, highest
	}
	// restart closes the store, calls between (if not nil) and opens it
	// again.
	restart := func(between func()) mailstore.Mailbox {
		s.Close()
		if between != nil {
			between()
		}
		if s, err = Open(root, opts); err != nil {
			t.Fatal(err)
		}
		return open()
	}
	mb := open()
	msgs := view(mb)
	if un, hi := unlogged(mb); un != hi || len(msgs) != len(files) {
		t.Fatalf("after the first open: %d messages, unlogged to %d of %d", len(msgs), un, hi)
	}
	expunged := map[uint32]uint64{}
	checkChangesSince(t, mb, msgs, expunged)

	// Flag changes of bulk messages (the first, one in the middle, the
	// last) and an expunge of two.
	if _, _, err := mb.StoreFlags(ctx, []uint32{1, 300, uint32(len(files))}, mailstore.FlagsAdd, []string{`\Flagged`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := mb.StoreFlags(ctx, []uint32{2, 301}, mailstore.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	gone, err := mb.Expunge(ctx, []uint32{2, 301})
	if err != nil || len(gone) != 2 {
		t.Fatal(gone, err)
	}
	_, hi := unlogged(mb)
	expunged[2], expunged[301] = hi, hi
	// A delivery, then a flag change of it.
	uid, err := mb.Append(ctx, strings.NewReader("Subject: d\r\n\r\nd\r\n"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := mb.StoreFlags(ctx, []uint32{uid, 3}, mailstore.FlagsAdd, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	msgs = view(mb)
	if un, hi := unlogged(mb); un >= hi {
		t.Fatalf("after the changes: unlogged to %d of %d", un, hi)
	}
	checkChangesSince(t, mb, msgs, expunged)

	// Many files copied into cur/ by another program: the mailbox
	// changed since the first open, so they come with their entries
	// (else a client's CHANGEDSINCE from just before them would walk
	// every record).
	unBefore, _ := unlogged(mb)
	// (Written while the store is closed: its first open finds them all
	// at once, as a rescan does, not one by one from the disk watcher.)
	mb = restart(func() {
		for i := range unloggedMin {
			p := filepath.Join(md, "cur", fmt.Sprintf("1700009000.M4P4Q%d.copy:2,S", i))
			if err := os.WriteFile(p, []byte("Subject: c\r\n\r\nc\r\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	})
	msgs = view(mb)
	if len(msgs) != len(files)-2+1+unloggedMin {
		t.Fatalf("after the copy: %d messages", len(msgs))
	}
	if un, _ := unlogged(mb); un != unBefore {
		t.Errorf("a copy into a changed mailbox moved the unlogged MODSEQs from %d to %d", unBefore, un)
	}
	checkChangesSince(t, mb, msgs, expunged)

	mb = restart(nil)
	checkChangesSince(t, mb, view(mb), expunged)
}

// TestMetaOlderIndex: a mailbox's meta written before unloggedModSeq
// existed decodes with it 0 (every message has its MODSEQ entry), and
// the new field round-trips.
func TestMetaOlderIndex(t *testing.T) {
	meta := mboxMeta{name: "INBOX", uidValidity: 7, uidNext: 9, highestModSeq: 300, keywords: []string{"a", "b"}, unloggedModSeq: 200}
	enc := meta.encode()
	got, err := decodeMeta(enc)
	if err != nil || got.unloggedModSeq != 200 || got.highestModSeq != 300 || !slices.Equal(got.keywords, meta.keywords) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	old := enc[:len(enc)-2] // (200 is two bytes of uvarint)
	got, err = decodeMeta(old)
	if err != nil || got.unloggedModSeq != 0 || got.highestModSeq != 300 || !slices.Equal(got.keywords, meta.keywords) {
		t.Fatalf("older meta: %+v, %v", got, err)
	}
}
