package searchindex

import "math/bits"

// trigramSet collects the distinct trigrams of one message, in the order
// first seen (tris). A message's text repeats its trigrams, so each one
// read is tested against those seen.
//
// It was a bitmap of the whole trigram space, 2 MiB held by every
// Builder for as long as it lived, although a message of a few KiB has a
// few thousand distinct trigrams: a background build held those 2 MiB
// beside the sessions, and the collector let the heap grow to twice what
// was live (docs/benchmarks.md, "Large mailboxes"). Now a small hash
// table (linear probing) answers, and only a message with more distinct
// trigrams than maxTableSlots/2 moves to the bitmap, allocated then.
type trigramSet struct {
	tris []uint32
	// table holds trigram+1 per slot, 0 for empty; len is a power of
	// two, at most maxTableSlots, and twice len(tris) or more.
	table []uint32
	shift uint // 32 - log2(len(table))
	// bitmap, one bit per trigram, is used instead of table for the
	// message being added when big.
	bitmap []uint64
	big    bool
}

// maxTableSlots bounds the hash table: 256 KiB, for up to 32 Ki distinct
// trigrams (a text part of tens of KiB).
const maxTableSlots = 1 << 16

// minTableSlots is the table's first size: 4 KiB.
const minTableSlots = 1 << 10

// add adds trigram t.
func (s *trigramSet) add(t uint32) {
	if s.big {
		if w, bit := t/64, uint64(1)<<(t%64); s.bitmap[w]&bit == 0 {
			s.bitmap[w] |= bit
			s.tris = append(s.tris, t)
		}
		return
	}
	if 2*(len(s.tris)+1) > len(s.table) {
		s.grow()
		if s.big {
			s.add(t)
			return
		}
	}
	mask := uint32(len(s.table) - 1)
	for i := (t * 0x9E3779B1) >> s.shift; ; i = (i + 1) & mask {
		switch s.table[i] {
		case 0:
			s.table[i] = t + 1
			s.tris = append(s.tris, t)
			return
		case t + 1:
			return
		}
	}
}

// grow doubles the table, or moves the message to the bitmap past
// maxTableSlots.
func (s *trigramSet) grow() {
	n := max(2*len(s.table), minTableSlots)
	if n > maxTableSlots {
		if s.bitmap == nil {
			s.bitmap = make([]uint64, 1<<24/64)
		}
		for _, t := range s.tris {
			s.bitmap[t/64] |= 1 << (t % 64)
		}
		s.clearTable()
		s.big = true
		return
	}
	s.table = make([]uint32, n)
	s.shift = uint(32 - bits.TrailingZeros(uint(n)))
	mask := uint32(n - 1)
	for _, t := range s.tris {
		i := (t * 0x9E3779B1) >> s.shift
		for s.table[i] != 0 {
			i = (i + 1) & mask
		}
		s.table[i] = t + 1
	}
}

// reset empties the set for the next message, keeping its memory.
func (s *trigramSet) reset() {
	if s.big {
		for _, t := range s.tris {
			s.bitmap[t/64] = 0
		}
		s.big = false
	} else {
		s.clearTable()
	}
	s.tris = s.tris[:0]
}

// clearTable empties the table of the trigrams in tris. It clears them
// newest first: each one's probe then still passes over the slots of
// those added before it, as when it was put in.
func (s *trigramSet) clearTable() {
	if len(s.table) == 0 {
		return
	}
	if len(s.table) <= 4*len(s.tris) {
		clear(s.table)
		return
	}
	mask := uint32(len(s.table) - 1)
	for k := len(s.tris) - 1; k >= 0; k-- {
		t := s.tris[k]
		for i := (t * 0x9E3779B1) >> s.shift; ; i = (i + 1) & mask {
			if s.table[i] == t+1 {
				s.table[i] = 0
				break
			}
		}
	}
}
