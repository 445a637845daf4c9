package hibernate

import "slices"

// Arena size classes: slots of 16 B to 256 B in steps of 16 (a blob just
// past the inline space wastes at most 15 bytes), then eight classes per
// doubling (288, 320, ... 512, 576, ... 32 KiB), so that a slot wastes at
// most an eighth of its blob: a TLS 1.3 + COMPRESS sleeper's blob (record
// state and deflated window) is a few hundred bytes and grows with its
// client's input, and with classes doubling above 256 B it took up to
// twice its size. Subscription keys use the small ones.
const (
	arenaStep    = 16
	arenaFine    = 256 / arenaStep // classes 0..15: (c+1)*16 bytes
	arenaPerOct  = 8               // classes per doubling above 256 B
	arenaClasses = arenaFine + 7*arenaPerOct
	arenaMaxSlot = 32 << 10
)

// classSize returns the slot size of class c.
func classSize(c uint8) int {
	if c < arenaFine {
		return (int(c) + 1) * arenaStep
	}
	k := int(c - arenaFine)
	base := (arenaFine * arenaStep) << (k / arenaPerOct)
	return base + (k%arenaPerOct+1)*(base/arenaPerOct)
}

// arena stores the state blobs that do not fit inline in an entry (NOTIFY
// filters, long UID sets, compression windows) and the names of
// subscribed mailboxes. Each size class is one
// []byte cut into equal slots with a free list, so a slot wastes at most
// an eighth of its blob (15 B below 256 B), the arena holds no pointers,
// and freed slots are reused
// without fragmenting. A class grows as needed; once no more than a
// quarter of its slots are used, its owner compacts it (sparse,
// Table.compactBlobs), so that blobs moving up a class as they grow do
// not leave each class at its peak.
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

// compactMin is the fewest bytes of free slots worth a compaction.
const compactMin = 4 << 10

// used returns the number of class c's slots in use.
func (a *arena) used(c uint8) int {
	cl := &a.class[c]
	return len(cl.data)/classSize(c) - len(cl.free)
}

// sparse reports whether no more than a quarter of class c's slots are
// in use and the free ones hold compactMin bytes or more: worth
// compacting (its owner moves the slots in use, Table.compactBlobs).
func (a *arena) sparse(c uint8) bool {
	size := classSize(c)
	slots, used := len(a.class[c].data)/size, a.used(c)
	return used*4 <= slots && (slots-used)*size >= compactMin
}

// bytes returns the size of the arena's slabs.
func (a *arena) bytes() int {
	n := 0
	for c := range a.class {
		n += len(a.class[c].data)
	}
	return n
}
