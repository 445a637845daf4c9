package searchindex

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTrigramSet: the set gives each message's distinct trigrams in the
// order first seen, whatever came before it: small messages in the
// table, one past the table's bound in the bitmap, and small ones after
// that again (the set is reset between them, as Builder.Add does).
func TestTrigramSet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	msg := func(n, space int) []uint32 {
		out := make([]uint32, n)
		for i := range out {
			out[i] = uint32(r.IntN(space))
		}
		return out
	}
	tests := []struct {
		name string
		tris []uint32
	}{
		{"empty", nil},
		{"one", []uint32{0}},
		{"repeats", []uint32{5, 5, 0xFFFFFF, 5, 0, 0xFFFFFF}},
		{"small", msg(300, 1<<24)},
		{"grows the table", msg(20000, 1<<24)},
		{"past the table: bitmap", msg(100000, 1<<24)},
		{"small after the bitmap", msg(500, 1000)},
		{"dense", msg(200000, 40000)},
		{"small again", msg(3000, 1<<24)},
	}
	var s trigramSet
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []uint32
			seen := map[uint32]bool{}
			for _, x := range tc.tris {
				if !seen[x] {
					seen[x] = true
					want = append(want, x)
				}
				s.add(x)
			}
			if !slices.Equal(s.tris, want) {
				t.Fatalf("got %d trigrams, want %d (first difference near %v)", len(s.tris), len(want), firstDiff(s.tris, want))
			}
			s.reset()
			if len(s.tris) != 0 || s.big {
				t.Fatalf("after reset: %d trigrams, big %v", len(s.tris), s.big)
			}
			for _, v := range s.table {
				if v != 0 {
					t.Fatal("reset left a slot of the table filled")
				}
			}
			for _, w := range s.bitmap {
				if w != 0 {
					t.Fatal("reset left a bit of the bitmap set")
				}
			}
		})
	}
}

func firstDiff(a, b []uint32) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
