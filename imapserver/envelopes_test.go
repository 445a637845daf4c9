package imapserver

import "testing"

func TestNextEnvelopeChunk(t *testing.T) {
	for _, tc := range []struct {
		n, total, want int
	}{
		{8, 8 * 500, 16},                // small headers: grow, doubling
		{128, 128 * 500, envelopeChunk}, // up to the cap
		{256, 256 * 500, envelopeChunk}, // and stay there
		{8, 8 << 20, 4},                 // 1 MiB headers: 4 fit the budget
		{4, 4 << 20, 4},                 // and stay 4
		{256, 256 * (100 << 10), 40},    // 100 KiB headers
		{1, 64 << 20, 1},                // never less than one
		{8, 0, 16},                      // every message gone
	} {
		if got := nextEnvelopeChunk(tc.n, tc.total, envelopeChunk); got != tc.want {
			t.Errorf("nextEnvelopeChunk(%d, %d) = %d, want %d", tc.n, tc.total, got, tc.want)
		}
	}
}
