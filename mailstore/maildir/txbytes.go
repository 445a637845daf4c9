package maildir

// txBytes hands out the byte slices a write transaction gives bbolt's
// Put, which keeps them, not copies, until the commit. They are cut from
// slabs that grow with the transaction: the first open of a large folder
// puts three keys and a record per message, and one allocation each made
// it spend a fifth of its time allocating and scanning them.
type txBytes struct {
	slab []byte
}

// txSlabMax bounds a slab; the first is txSlabMin.
const (
	txSlabMin = 256
	txSlabMax = 64 << 10
)

// take returns an empty slice with room for n bytes, shared with nothing
// (appending beyond n moves it elsewhere, never over another's bytes).
func (a *txBytes) take(n int) []byte {
	if n > txSlabMax/8 {
		return make([]byte, 0, n)
	}
	if cap(a.slab)-len(a.slab) < n {
		size := min(max(2*cap(a.slab), txSlabMin), txSlabMax)
		a.slab = make([]byte, 0, size)
	}
	i := len(a.slab)
	a.slab = a.slab[:i+n]
	return a.slab[i : i : i+n]
}

// u32 returns v big-endian, as the UID keys are.
func (a *txBytes) u32(v uint32) []byte {
	return append(a.take(4), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// str returns the bytes of s.
func (a *txBytes) str(s string) []byte { return append(a.take(len(s)), s...) }
