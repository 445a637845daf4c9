package searchindex

import (
	"runtime"
	"testing"
)

// mallocs returns how many heap allocations fn made.
func mallocs(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.Mallocs - before.Mallocs
}

// distinctTrigrams counts the trigrams of the messages benchMessage
// gives for from..to-1.
func distinctTrigrams(from, to int) int {
	seen := map[uint32]bool{}
	for i := from; i < to; i++ {
		for _, t := range Trigrams(benchMessage(i)) {
			seen[t] = true
		}
	}
	return len(seen)
}

// TestBuilderReusesMemory: a Builder written and Reset again and again,
// as a bulk build does, allocates for each segment a bounded number of
// times (the file, its writer), not for each trigram or posting: what it
// allocated per posting was garbage that made a server's whole heap
// float up while a background build ran.
func TestBuilderReusesMemory(t *testing.T) {
	// Messages of many trigrams each (a few KiB), so that what is
	// allocated per message (its readers) is small beside the postings.
	const perSegment, parts = 20, 10
	ix := openTest(t, t.TempDir(), 1)
	b := NewBuilder()
	msgs := make([]string, 4*perSegment)
	for i := range msgs {
		for j := range parts {
			msgs[i] += benchMessage(i*parts + j)
		}
	}
	next := 0
	segment := func() {
		for range perSegment {
			if err := b.Add(uint32(next+1), stringTexts(msgs[next])); err != nil {
				t.Fatal(err)
			}
			next++
		}
		if err := ix.Add(b); err != nil {
			t.Fatal(err)
		}
		b.Reset()
	}
	segment() // the buffers grow once
	segment()
	tris := distinctTrigrams(2*perSegment*parts, 3*perSegment*parts)
	n := mallocs(segment)
	if n > uint64(tris/10) {
		t.Errorf("one segment of %d messages (%d distinct trigrams) took %d allocations", perSegment, tris, n)
	}
	t.Logf("%d allocations for %d distinct trigrams", n, tris)
}

// TestCompactReusesMemory: merging many segments allocates per segment
// (its cursor), not per trigram and segment: a bulk build's final merge
// of a large mailbox reads every posting of it.
func TestCompactReusesMemory(t *testing.T) {
	const segments, perSegment = 20, 50
	ix := openTest(t, t.TempDir(), 1)
	b := NewBuilder()
	for s := range segments {
		for i := range perSegment {
			uid := s*perSegment + i
			if err := b.Add(uint32(uid+1), stringTexts(benchMessage(uid))); err != nil {
				t.Fatal(err)
			}
		}
		if err := ix.Add(b); err != nil {
			t.Fatal(err)
		}
		b.Reset()
	}
	tris := distinctTrigrams(0, segments*perSegment)
	var err error
	n := mallocs(func() { err = ix.Compact(func(uint32) bool { return true }) })
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.segs) != 1 {
		t.Fatalf("%d segments after Compact", len(ix.segs))
	}
	if n > uint64(tris/4) {
		t.Errorf("merging %d segments (%d distinct trigrams) took %d allocations", segments, tris, n)
	}
	t.Logf("%d allocations for %d distinct trigrams in %d segments", n, tris, segments)
}
