package searchindex

import (
	"io"
	"slices"
)

// Texts gives a message's searchable texts to a callback, one reader per
// text, until the callback returns false: imapmsg's Message.SearchTexts.
// A string found in the message must lie whole within one text.
type Texts func(fn func(r io.Reader) bool)

// Builder collects the trigrams of messages added in ascending UID order,
// in memory, until written as a segment (Index.Write).
//
// Its postings are one flat slice of (trigram, UID) pairs, put in
// trigram order by a radix sort when written, rather than a map of
// growing slices: it is reused from one segment to the next (Reset), so
// a build of a million messages allocates its postings once (a
// background one also the sort's other half once a segment) instead of
// some bytes for every posting, garbage that let the heap of the whole
// process float up while a background build ran.
type Builder struct {
	pairs []uint64 // trigram<<32 | UID, one per posting, in UID order
	uids  []uint32
	limit int // postings at which Full says yes
	// scratch is the radix sort's other half, kept from one segment to
	// the next only by a builder of NewBuilder (a search's own build,
	// short-lived, whose segments of up to 16 MiB would each allocate
	// it again).
	scratch []uint64
	keep    bool     // NewBuilder's: keep scratch
	list    []uint32 // one trigram's UIDs while written
	buf     []byte
	// seen collects the distinct trigrams of the message being added.
	seen trigramSet
}

// maxBuilderEntries bounds a Builder's memory: 8 bytes a posting (the
// pairs), 16 MiB, and as much again while a segment is written (the
// sort's other half).
const maxBuilderEntries = 2 << 20

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	b := NewBuilderLimit(maxBuilderEntries)
	b.keep = true
	return b
}

// NewBuilderLimit returns an empty Builder that is Full at entries
// postings (at most maxBuilderEntries): smaller segments, less memory;
// between writes it holds only its pairs.
func NewBuilderLimit(entries int) *Builder {
	return &Builder{limit: min(max(entries, 1), maxBuilderEntries)}
}

// Reset empties b for the next segment, keeping its buffers.
func (b *Builder) Reset() {
	b.pairs = b.pairs[:0]
	b.uids = b.uids[:0]
}

// Add indexes the message uid, which must be greater than every UID added
// before, from its texts.
func (b *Builder) Add(uid uint32, texts Texts) error {
	if n := len(b.uids); n > 0 && b.uids[n-1] >= uid {
		return errOrder
	}
	if b.buf == nil {
		b.buf = make([]byte, 32<<10)
	}
	var readErr error
	texts(func(r io.Reader) bool {
		readErr = b.addText(r)
		return readErr == nil
	})
	defer b.seen.reset()
	if readErr != nil {
		return readErr
	}
	b.growPairs(len(b.seen.tris))
	for _, t := range b.seen.tris {
		b.pairs = append(b.pairs, uint64(t)<<32|uint64(uid))
	}
	b.uids = append(b.uids, uid)
	return nil
}

// growPairs makes room for n more pairs, growing no further than the
// limit needs (append's doubling would reserve up to twice it).
func (b *Builder) growPairs(n int) {
	need := len(b.pairs) + n
	if need <= cap(b.pairs) {
		return
	}
	pairs := make([]uint64, len(b.pairs), min(max(2*cap(b.pairs), need), max(b.limit+n, need)))
	copy(pairs, b.pairs)
	b.pairs = pairs
}

// addText collects every trigram of r's bytes in tris, keeping the last
// two bytes between reads so that none across a read boundary is lost.
func (b *Builder) addText(r io.Reader) error {
	var t uint32 // the last bytes read, lowest byte last
	have := 0    // how many of them there are, up to 3
	for {
		n, err := r.Read(b.buf)
		for _, c := range b.buf[:n] {
			t = (t<<8 | uint32(c)) & 0xFFFFFF
			if have < 3 {
				have++
				if have < 3 {
					continue
				}
			}
			b.seen.add(t)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Len returns how many messages were added.
func (b *Builder) Len() int { return len(b.uids) }

// Full says the builder holds as much as it should before being written.
func (b *Builder) Full() bool { return len(b.pairs) >= b.limit }

// eachPosting sorts the pairs and calls fn with each trigram, ascending,
// and its UIDs, ascending, in a slice valid until fn returns.
func (b *Builder) eachPosting(fn func(tri uint32, uids []uint32) error) error {
	// A builder of NewBuilderLimit (the background build, which lives
	// beside the sessions) does not keep the sort's other half for the
	// next segment: between writes it would be 8 bytes a posting held
	// for nothing, which the collector's goal doubles
	// (docs/benchmarks.md, "Large mailboxes"). (It has the pairs'
	// capacity: it may come out as the pairs.)
	if cap(b.scratch) < len(b.pairs) {
		b.scratch = make([]uint64, cap(b.pairs))
	}
	b.pairs, b.scratch = sortByTrigram(b.pairs, b.scratch[:len(b.pairs)])
	if !b.keep {
		b.scratch = nil
	}
	for i := 0; i < len(b.pairs); {
		tri := uint32(b.pairs[i] >> 32)
		b.list = b.list[:0]
		for ; i < len(b.pairs) && uint32(b.pairs[i]>>32) == tri; i++ {
			b.list = append(b.list, uint32(b.pairs[i]))
		}
		if err := fn(tri, b.list); err != nil {
			return err
		}
	}
	return nil
}

// sortByTrigram sorts pairs by their trigram (bits 32 to 55), keeping
// the order of pairs of one trigram (their UIDs ascend as added): a
// stable radix sort, a byte a pass, through scratch (as long as pairs).
// It returns the sorted slice and the other.
func sortByTrigram(pairs, scratch []uint64) (sorted, spare []uint64) {
	var counts [3][256]int
	for _, p := range pairs {
		counts[0][byte(p>>32)]++
		counts[1][byte(p>>40)]++
		counts[2][byte(p>>48)]++
	}
	for pass := range 3 {
		shift := 32 + 8*pass
		pos := 0
		for d, n := range counts[pass] {
			counts[pass][d] = pos
			pos += n
		}
		next := &counts[pass]
		for _, p := range pairs {
			d := byte(p >> shift)
			scratch[next[d]] = p
			next[d]++
		}
		pairs, scratch = scratch, pairs
	}
	return pairs, scratch
}

// Trigrams returns the trigrams of s's bytes, distinct, ascending: what a
// text must all hold for s to lie within it.
func Trigrams(s string) []uint32 {
	if len(s) < 3 {
		return nil
	}
	out := make([]uint32, 0, len(s)-2)
	for i := 0; i+3 <= len(s); i++ {
		out = append(out, uint32(s[i])<<16|uint32(s[i+1])<<8|uint32(s[i+2]))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
