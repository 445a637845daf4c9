package hibernate

import "slices"

// Arena size classes: slots of 16 B to 256 B in steps of 16 (a blob just
// past the inline space wastes at most 15 bytes), then 512 B, 1 KiB, ...
// 32 KiB. Subscription keys use the small ones.
const (
	arenaStep    = 16
	arenaFine    = 256 / arenaStep // classes 0..15: (c+1)*16 bytes
	arenaClasses = arenaFine + 7   // then 512 << (c-16), up to 32 KiB
	arenaMaxSlot = 512 << (arenaClasses - arenaFine - 1)
)

// classSize returns the slot size of class c.
func classSize(c uint8) int {
	if c < arenaFine {
		return (int(c) + 1) * arenaStep
	}
	return 512 << (c - arenaFine)
}

// arena stores the state blobs that do not fit inline in an entry (NOTIFY
// filters, long UID sets, compression windows) and the names of
// subscribed mailboxes. Each size class is one
// []byte cut into equal slots with a free list, so a blob costs at most
// twice its size, the arena holds no pointers, and freed slots are reused
// without fragmenting. It grows and never shrinks: its size follows the
// peak of large blobs, which is small next to the entries.
type arena struct {
	class [arenaClasses]struct {
		data []byte
		free []uint32
	}
}

// classFor returns the smallest class whose slots hold n bytes.
func classFor(n int) uint8 {
	if n <= arenaFine*arenaStep {
		return uint8(max(n-1, 0) / arenaStep)
	}
	c := uint8(arenaFine)
	for classSize(c) < n {
		c++
	}
	return c
}

// alloc returns a slot for n bytes, n <= MaxBlob.
func (a *arena) alloc(n int) (class uint8, slot uint32) {
	c := classFor(n)
	cl := &a.class[c]
	if k := len(cl.free); k > 0 {
		slot = cl.free[k-1]
		cl.free = cl.free[:k-1]
		return c, slot
	}
	size := classSize(c)
	slot = uint32(len(cl.data) / size)
	cl.data = slices.Grow(cl.data, size)[:len(cl.data)+size]
	return c, slot
}

// slot returns the bytes of a slot.
func (a *arena) slot(class uint8, slot uint32) []byte {
	size := classSize(class)
	off := int(slot) * size
	return a.class[class].data[off : off+size : off+size]
}

func (a *arena) free(class uint8, slot uint32) {
	cl := &a.class[class]
	cl.free = append(cl.free, slot)
}
