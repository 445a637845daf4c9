package maildir

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// TestChunkRoundTrip: a chunk gives back every field of its entries,
// whatever their size and sign.
func TestChunkRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		entries []listEntry
	}{
		{"empty", nil},
		{"one plain", []listEntry{{uid: 256, modSeq: 1, internal: 1, save: 1, size: 1}}},
		{"edges of the run", []listEntry{
			{uid: 512, modSeq: 1<<63 + 5, internal: -1_000_000_000, save: 1 << 62, size: 0, flags: flagSet{sys: 31}},
			{uid: 767, modSeq: 2, internal: 1 << 62, save: -(1 << 62), size: 1 << 40, flags: flagSet{keywords: []string{"$Label1", "Work"}}},
		}},
		{"zero dates", []listEntry{{uid: 3}, {uid: 4, flags: flagSet{sys: flagSeen}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := uint32(0)
			if len(tt.entries) > 0 {
				c = chunkOf(tt.entries[0].uid)
			}
			enc := encodeChunk(tt.entries)
			if len(enc)/minEntryBytes < len(tt.entries) {
				t.Errorf("%d entries in %d bytes: chunk sizes its entries by minEntryBytes %d", len(tt.entries), len(enc), minEntryBytes)
			}
			var got []listEntry
			if err := decodeChunk(c, enc, func(e *listEntry) { got = append(got, *e) }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.entries) || (len(got) > 0 && !reflect.DeepEqual(got, tt.entries)) {
				t.Fatalf("got %+v, want %+v", got, tt.entries)
			}
		})
	}
	if err := decodeChunk(0, []byte{listVersion, 1, 2}, func(*listEntry) {}); err == nil {
		t.Fatal("a cut chunk decoded")
	}
}

// TestListChunks changes a mailbox in every way the store knows, through
// its API and on disk, and after each change checks that the list read
// from the chunks is the list read from the records, with the same MODSEQ
// summary. It also opens the mailbox as an index from before the chunks
// left it (no chunks), and as an older version leaves it after a change
// (chunks that show an older state): views read the records then, and the
// next change writes the chunks again.
func TestListChunks(t *testing.T) {
	s, root := testStore(t, Options{})
	ctx := context.Background()
	u := testUser(t, s, "alice")
	m := testMailbox(t, u, "INBOX")
	us := u.(*userHandle).u
	h := m.(*mailboxHandle)
	md := filepath.Join(root, "users", "alice", "Maildir")

	// check compares the two lists; fromChunks says whether the chunks
	// must show the mailbox.
	check := func(t *testing.T, fromChunks bool) {
		t.Helper()
		err := h.view(func(mt *mboxTx) error {
			recs, err := mt.recordList()
			if err != nil {
				return err
			}
			list, ok := mt.listFromChunks()
			if ok != fromChunks {
				t.Fatalf("list from chunks: %v, want %v (%d records)", ok, fromChunks, recs.Len())
			}
			// The whole lists, their blocks' MODSEQ summaries too.
			if ok && !reflect.DeepEqual(list, recs) {
				t.Fatalf("chunks and records differ:\nchunks  %d %+v\nrecords %d %+v", list.Len(), list.Messages(), recs.Len(), recs.Messages())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		snap, err := m.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var recs mailstore.MessageList
		_ = h.view(func(mt *mboxTx) error { recs, err = mt.recordList(); return err })
		if !reflect.DeepEqual(snap.Messages.Messages(), recs.Messages()) {
			t.Fatalf("snapshot of %d messages is not the records' %d", snap.Messages.Len(), recs.Len())
		}
	}
	// oldIndex makes the index look as a version without chunks left it.
	oldIndex := func(t *testing.T, dropChunks bool) {
		t.Helper()
		err := us.update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bktBoxes).Bucket(u64(h.id))
			if dropChunks {
				if err := b.DeleteBucket(bktList); err != nil {
					return err
				}
				return b.Delete(keyListStamp)
			}
			// An older version's STORE: the record and the meta change,
			// the chunks do not.
			meta, err := decodeMeta(b.Get(keyBoxMeta))
			if err != nil {
				return err
			}
			msgs := b.Bucket(bktMsgs)
			k, v := msgs.Cursor().Last()
			r, err := decodeRec(beUint32(k), v, true)
			if err != nil {
				return err
			}
			meta.highestModSeq++
			r.modSeq, r.flags.sys = meta.highestModSeq, r.flags.sys^flagFlagged
			if err := msgs.Put(k, r.encode()); err != nil {
				return err
			}
			return b.Put(keyBoxMeta, meta.encode())
		})
		if err != nil {
			t.Fatal(err)
		}
		us.dropLists() // the kept list shows the state before
	}
	seen := func(t *testing.T, uids []uint32, op mailstore.StoreOp, flags ...string) {
		t.Helper()
		if _, _, err := m.StoreFlags(ctx, uids, op, flags, 0); err != nil {
			t.Fatal(err)
		}
	}
	uidsIn := func(lo, hi uint32) []uint32 {
		var out []uint32
		for u := lo; u <= hi; u++ {
			out = append(out, u)
		}
		return out
	}

	steps := []struct {
		name       string
		do         func(t *testing.T)
		fromChunks bool
	}{
		{"new mailbox", func(*testing.T) {}, true},
		{"appends over three runs", func(t *testing.T) {
			var reqs []mailstore.AppendRequest
			for i := range 600 {
				r := mailstore.AppendRequest{Body: strings.NewReader(msg("m"))}
				if i%3 == 0 {
					r.Flags = []string{`\Seen`}
				}
				if i%50 == 0 {
					r.Flags = append(r.Flags, "$Label1")
				}
				reqs = append(reqs, r)
			}
			if _, err := m.AppendMany(ctx, reqs); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, m, msg("one"), `\Flagged`)
		}, true},
		{"flags and keywords", func(t *testing.T) {
			seen(t, []uint32{1, 255, 256, 257, 511, 601}, mailstore.FlagsAdd, `\Answered`, "Work")
			seen(t, uidsIn(100, 300), mailstore.FlagsRemove, `\Seen`)
			seen(t, []uint32{600}, mailstore.FlagsReplace, `\Draft`)
		}, true},
		{"expunge a whole run and more", func(t *testing.T) {
			seen(t, uidsIn(250, 520), mailstore.FlagsAdd, `\Deleted`)
			if _, err := m.Expunge(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"copy and move in and out", func(t *testing.T) {
			other := testMailbox(t, u, "Archive")
			if _, err := m.Copy(ctx, []uint32{1, 2, 3}, "Archive"); err != nil {
				t.Fatal(err)
			}
			res, err := other.Move(ctx, []uint32{1, 2}, "INBOX")
			if err != nil || len(res.DestUIDs) != 2 {
				t.Fatal(err, res)
			}
			if _, err := m.Move(ctx, []uint32{4, 5}, "Archive"); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Move(ctx, []uint32{6}, "INBOX"); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"changes on disk", func(t *testing.T) {
			tmp := filepath.Join(md, "tmp", "1700000000.P1Q1.mx")
			if err := os.WriteFile(tmp, []byte("Subject: mda\n\nhello\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(md, "new", "1700000000.P1Q1.mx")); err != nil {
				t.Fatal(err)
			}
			names, _ := filepath.Glob(filepath.Join(md, "cur", "*"))
			slices.Sort(names)
			if err := os.Rename(names[10], strings.TrimSuffix(names[10], ":2,")+":2,FS"); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(names[20]); err != nil {
				t.Fatal(err)
			}
			if _, err := us.syncMailbox("INBOX", true, nil, nil); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"an index from before the chunks", func(t *testing.T) { oldIndex(t, true) }, false},
		{"its first change writes them", func(t *testing.T) {
			seen(t, []uint32{7}, mailstore.FlagsAdd, `\Seen`)
		}, true},
		{"an older version changed the mailbox", func(t *testing.T) { oldIndex(t, false) }, false},
		{"the next change writes them again", func(t *testing.T) {
			mustAppend(t, m, msg("after"))
		}, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do(t)
			check(t, st.fromChunks)
		})
	}
}
