package maildir

import (
	"bytes"
	"testing"
)

// TestTxBytes: each slice take hands out is its own, in slabs or not:
// filling it, or appending beyond its room, never writes over another.
func TestTxBytes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int
	}{
		{"small", []int{1, 4, 12, 60, 3}},
		{"slab boundaries", []int{200, 100, 300, 600, 1000, 4000}},
		{"past a slab", []int{txSlabMax / 4, 5, txSlabMax, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a txBytes
			var got [][]byte
			for i, n := range tc.sizes {
				b := a.take(n)
				if len(b) != 0 || cap(b) != n {
					t.Fatalf("take(%d): len %d cap %d", n, len(b), cap(b))
				}
				got = append(got, append(b, bytes.Repeat([]byte{byte('a' + i)}, n)...))
			}
			// Appending past the room moves the slice, not the neighbour.
			grown := append(got[0], 'z')
			for i, n := range tc.sizes {
				if want := bytes.Repeat([]byte{byte('a' + i)}, n); !bytes.Equal(got[i], want) {
					t.Errorf("slice %d changed", i)
				}
			}
			if grown[len(grown)-1] != 'z' {
				t.Error("append lost")
			}
		})
	}
	var a txBytes
	if k := a.u32(0x01020304); !bytes.Equal(k, u32(0x01020304)) {
		t.Errorf("u32: %x", k)
	}
	if s := a.str("base"); string(s) != "base" {
		t.Errorf("str: %q", s)
	}
}
