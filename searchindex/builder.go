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
type Builder struct {
	postings map[uint32][]uint32 // trigram -> UIDs, ascending
	uids     []uint32
	entries  int // total postings, for Full
	limit    int // entries at which Full says yes
	buf      []byte
	// seen marks the trigrams of the message being added, one bit each
	// (2 MiB), and tris lists them: text repeats its trigrams, and a
	// bit test costs a fraction of a map lookup.
	seen []uint64
	tris []uint32
}

// maxBuilderEntries bounds a Builder's memory: about 4 bytes a posting
// plus the map, some 40 MB.
const maxBuilderEntries = 8 << 20

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return NewBuilderLimit(maxBuilderEntries) }

// NewBuilderLimit returns an empty Builder that is Full at entries
// postings (at most maxBuilderEntries): smaller segments, less memory.
func NewBuilderLimit(entries int) *Builder {
	return &Builder{postings: make(map[uint32][]uint32), limit: min(max(entries, 1), maxBuilderEntries)}
}

// Reset empties b for the next segment, keeping its buffers.
func (b *Builder) Reset() {
	b.postings = make(map[uint32][]uint32)
	b.uids = nil
	b.entries = 0
}

// Add indexes the message uid, which must be greater than every UID added
// before, from its texts.
func (b *Builder) Add(uid uint32, texts Texts) error {
	if n := len(b.uids); n > 0 && b.uids[n-1] >= uid {
		return errOrder
	}
	if b.buf == nil {
		b.buf = make([]byte, 32<<10)
		b.seen = make([]uint64, 1<<24/64)
	}
	var readErr error
	texts(func(r io.Reader) bool {
		readErr = b.addText(r)
		return readErr == nil
	})
	for _, t := range b.tris {
		b.seen[t/64] = 0
		if readErr == nil {
			b.postings[t] = append(b.postings[t], uid)
		}
	}
	if readErr != nil {
		b.tris = b.tris[:0]
		return readErr
	}
	b.entries += len(b.tris)
	b.tris = b.tris[:0]
	b.uids = append(b.uids, uid)
	return nil
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
			if w, bit := t/64, uint64(1)<<(t%64); b.seen[w]&bit == 0 {
				b.seen[w] |= bit
				b.tris = append(b.tris, t)
			}
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
func (b *Builder) Full() bool { return b.entries >= b.limit }

// sortedTrigrams returns the builder's trigrams, ascending.
func (b *Builder) sortedTrigrams() []uint32 {
	keys := make([]uint32, 0, len(b.postings))
	for k := range b.postings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
