package searchindex

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortByTrigram: the radix sort orders pairs by trigram and keeps
// the order of the pairs of one trigram (their UIDs, ascending as added),
// as a stable sort on the trigram does.
func TestSortByTrigram(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		n      int
		values uint32 // trigrams drawn from 0..values-1, spread over 24 bits
	}{
		{"empty", 0, 1},
		{"one", 1, 1},
		{"one trigram", 100, 1},
		{"few trigrams", 1000, 7},
		{"many", 20000, 1 << 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pairs := make([]uint64, tc.n)
			for i := range pairs {
				tri := r.Uint32N(tc.values) * ((1 << 24) / tc.values)
				pairs[i] = uint64(tri)<<32 | uint64(i) // UIDs ascending as added
			}
			want := slices.Clone(pairs)
			slices.SortStableFunc(want, func(a, b uint64) int { return int(a>>32) - int(b>>32) })
			got, _ := sortByTrigram(pairs, make([]uint64, len(pairs)))
			if !slices.Equal(got, want) {
				t.Error("not the stable order by trigram")
			}
		})
	}
}

// TestBuilderScratch: a background builder (NewBuilderLimit) holds only
// its pairs between writes; a search's own (NewBuilder) keeps the sort's
// other half for its next segment.
func TestBuilderScratch(t *testing.T) {
	tests := []struct {
		name string
		b    *Builder
		kept bool
	}{
		{"NewBuilderLimit", NewBuilderLimit(1 << 10), false},
		{"NewBuilder", NewBuilder(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix := openTest(t, t.TempDir(), 1)
			if err := tc.b.Add(1, stringTexts("some text to index")); err != nil {
				t.Fatal(err)
			}
			if err := ix.Add(tc.b); err != nil {
				t.Fatal(err)
			}
			if kept := tc.b.scratch != nil; kept != tc.kept {
				t.Errorf("scratch kept after a write: %v, want %v", kept, tc.kept)
			}
		})
	}
}
