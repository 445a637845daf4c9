package searchindex

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// texts gives the strings as a message's texts, each read in small
// pieces so that trigrams across reads are exercised.
func texts(ss ...string) Texts {
	return func(fn func(io.Reader) bool) {
		for _, s := range ss {
			if !fn(io.LimitReader(&slowReader{s: s}, 1<<20)) {
				return
			}
		}
	}
}

// slowReader returns at most 2 bytes a read.
type slowReader struct{ s string }

func (r *slowReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 2)], r.s)
	r.s = r.s[n:]
	return n, nil
}

func openTest(t *testing.T, dir string, uv uint32) *Index {
	t.Helper()
	ix, err := Open(dir, uv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

// bruteForce is what the index must be a superset of: the UIDs whose
// texts contain needle.
func bruteForce(docs map[uint32][]string, needle string) []uint32 {
	var out []uint32
	for uid, ts := range docs {
		for _, s := range ts {
			if strings.Contains(s, needle) {
				out = append(out, uid)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestIndexSupersetAcrossSegments adds messages one write at a time, so
// that segments are merged at every size, and checks that every needle's
// candidates hold every message containing it, that a needle in no
// message gets none, and that expunged messages are dropped at merges.
func TestIndexSupersetAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	docs := map[uint32][]string{}
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"}
	expunged := map[uint32]bool{}
	live := func(u uint32) bool { return !expunged[u] }
	for uid := uint32(1); uid <= 40; uid++ {
		ix := openTest(t, dir, 7)
		b := NewBuilder()
		d := []string{"subject: " + words[uid%7] + " no", words[(uid*3)%7] + " and " + words[(uid*5)%7]}
		docs[uid] = d
		if err := b.Add(uid, texts(d...)); err != nil {
			t.Fatal(err)
		}
		if uid == 20 {
			for u := uint32(1); u <= 10; u++ {
				expunged[u] = true
				delete(docs, u)
			}
		}
		if err := ix.Write(b, live); err != nil {
			t.Fatal(err)
		}
		ix.Close()
	}
	ix := openTest(t, dir, 7)
	if len(ix.segs) > 6 {
		t.Errorf("%d segments for 40 messages, want O(log n)", len(ix.segs))
	}
	all := make([]uint32, 0, 40)
	for u := uint32(1); u <= 40; u++ {
		all = append(all, u)
	}
	for _, u := range ix.Missing(append(all, 41)) {
		if u > 10 && u != 41 {
			t.Errorf("uid %d missing; only expunged ones (1-10) may be", u)
		}
	}
	if m := ix.Missing([]uint32{25, 41}); !slices.Equal(m, []uint32{41}) {
		t.Errorf("Missing(25, 41) = %v, want [41]", m)
	}
	for _, needle := range append(words, "t no", "o an", "d ch", "zzz", "subject: golf") {
		got, allOK, err := ix.Candidates(context.Background(), needle)
		if err != nil || allOK {
			t.Fatalf("%q: %v %v", needle, allOK, err)
		}
		got = slices.DeleteFunc(got, func(u uint32) bool { return expunged[u] })
		want := bruteForce(docs, needle)
		for _, u := range want {
			if _, ok := slices.BinarySearch(got, u); !ok {
				t.Errorf("%q: candidates %v miss %d (want ⊇ %v)", needle, got, u, want)
			}
		}
		if len(want) == 0 && len(got) != 0 && needle == "zzz" {
			t.Errorf("%q: candidates %v, want none", needle, got)
		}
	}
	if _, allOK, _ := ix.Candidates(context.Background(), "ab"); !allOK {
		t.Error("a 2-byte needle narrowed")
	}
}

// TestIndexDropsBadSegments: a segment cut short, or of another
// UIDVALIDITY, is deleted at Open and its messages are missing again.
func TestIndexDropsBadSegments(t *testing.T) {
	dir := t.TempDir()
	ix := openTest(t, dir, 1)
	b := NewBuilder()
	b.Add(5, texts("hello world"))
	if err := ix.Write(b, func(uint32) bool { return true }); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if ix := openTest(t, dir, 1); len(ix.Missing([]uint32{5})) != 0 {
		t.Fatal("uid 5 missing after write")
	}
	if ix := openTest(t, dir, 2); len(ix.Missing([]uint32{5})) != 1 {
		t.Fatal("a segment of another UIDVALIDITY was used")
	}
	ents, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(ents) != 0 {
		t.Fatalf("stale segments left: %v", ents)
	}
	ix = openTest(t, dir, 2)
	b = NewBuilder()
	b.Add(5, texts("hello world"))
	ix.Write(b, func(uint32) bool { return true })
	ix.Close()
	ents, _ = filepath.Glob(filepath.Join(dir, "*.seg"))
	st, _ := os.Stat(ents[0])
	if err := os.Truncate(ents[0], st.Size()-3); err != nil {
		t.Fatal(err)
	}
	if ix := openTest(t, dir, 2); len(ix.Missing([]uint32{5})) != 1 {
		t.Fatal("a truncated segment was used")
	}
}

// TestIndexBulkAddCompactsOnce: batches added without merging are merged
// into one segment by one Compact (a k-way merge), which keeps every
// message's trigrams and drops the UIDs live rejects, though the last
// batch (the rest of a build) is much smaller than the others.
func TestIndexBulkAddCompactsOnce(t *testing.T) {
	dir := t.TempDir()
	ix := openTest(t, dir, 3)
	docs := map[uint32][]string{}
	sizes := []int{10, 10, 10, 10, 2}
	uid := uint32(0)
	for batch, size := range sizes {
		b := NewBuilder()
		for range size {
			uid++
			d := []string{fmt.Sprintf("message %d in batch %d", uid, batch)}
			docs[uid] = d
			if err := b.Add(uid, texts(d...)); err != nil {
				t.Fatal(err)
			}
		}
		if err := ix.Add(b); err != nil {
			t.Fatal(err)
		}
	}
	if len(ix.segs) != 5 {
		t.Fatalf("%d segments after 5 Adds", len(ix.segs))
	}
	if err := ix.Compact(func(u uint32) bool { return u != 17 }); err != nil {
		t.Fatal(err)
	}
	if len(ix.segs) != 1 {
		t.Fatalf("%d segments after Compact, want 1", len(ix.segs))
	}
	delete(docs, 17)
	for _, needle := range []string{"message 17 ", "message 4", "batch 3", "e 42 in", "h 0"} {
		got, _, err := ix.Candidates(context.Background(), needle)
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteForce(docs, needle); !slices.Equal(got, want) {
			t.Errorf("%q: candidates %v, want %v", needle, got, want)
		}
	}
	if m := ix.Missing([]uint32{16, 17, 18}); !slices.Equal(m, []uint32{17}) {
		t.Errorf("Missing(16, 17, 18) = %v, want [17]", m)
	}
}
