package imapserver

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
)

// sortColumn holds one sort key's values for the messages being sorted:
// numbers, or strings (in i;unicode-casemap form, so that they compare as
// octets, RFC 5051) as ranges of one buffer, which spares an allocation
// per message.
type sortColumn struct {
	ints   []int64
	text   []byte   // the strings, one after another
	ends   []uint32 // message i's string is text[starts[i]:ends[i]]
	starts []uint32
	// heads are the strings' first headLen bytes as two big-endian
	// numbers each (zeros after a shorter string): most comparisons end
	// there, without touching the strings.
	heads   [][2]uint64
	field   int // the sort record's field, for strings
	reverse bool
}

// headLen is how many leading bytes of a string sortColumn.heads holds.
const headLen = 16

// newTextColumn returns a column for n strings.
func newTextColumn(n int) sortColumn {
	return sortColumn{
		starts: make([]uint32, n), ends: make([]uint32, n),
		heads: make([][2]uint64, n),
		text:  make([]byte, 0, 24*n), // a typical key's length
	}
}

// setString records s as message i's string.
func (col *sortColumn) setString(i int, s []byte) {
	col.starts[i] = uint32(len(col.text))
	col.text = append(col.text, s...)
	col.ends[i] = uint32(len(col.text))
	var head [headLen]byte
	copy(head[:], s)
	col.heads[i] = [2]uint64{binary.BigEndian.Uint64(head[:8]), binary.BigEndian.Uint64(head[8:])}
}

// str is message i's string.
func (col *sortColumn) str(i int32) []byte { return col.text[col.starts[i]:col.ends[i]] }

// compare orders messages x and y by this key alone, REVERSE applied.
func (col *sortColumn) compare(x, y int32) int {
	var d int
	if col.starts != nil {
		hx, hy := &col.heads[x], &col.heads[y]
		if d = cmp.Compare(hx[0], hy[0]); d == 0 {
			if d = cmp.Compare(hx[1], hy[1]); d == 0 {
				d = bytes.Compare(col.str(x), col.str(y))
			}
		}
	} else {
		d = cmp.Compare(col.ints[x], col.ints[y])
	}
	if col.reverse {
		d = -d
	}
	return d
}

// compareMessages orders messages x and y by every key in turn, then by
// position (the callers' messages ascend by sequence number, which
// REVERSE does not change: RFC 5256 3).
func compareMessages(cols []sortColumn, x, y int32) int {
	for j := range cols {
		if d := cols[j].compare(x, y); d != 0 {
			return d
		}
	}
	return cmp.Compare(x, y)
}

// sortEntry is one message's place in its first key's order in a form
// compared by integers alone, which keeps the big sort free of
// indirection: the key's value (numbers, k0 biased to order as unsigned)
// or its string's head and length (n, headLen+1 for any longer string),
// each complemented for REVERSE, then the message's position.
type sortEntry struct {
	k0, k1 uint64
	n      uint32
	i      int32
}

// entryDigits are the bytes of a sortEntry that order it, least
// significant first: n's low byte (0..headLen+1, or its complement's,
// which orders the same way reversed), then k1's eight, then k0's.
const entryDigits = 1 + 8 + 8

// digit is byte d of e, counted as entryDigits says.
func (e *sortEntry) digit(d int) byte {
	switch {
	case d == 0:
		return byte(e.n)
	case d <= 8:
		return byte(e.k1 >> (8 * (d - 1)))
	}
	return byte(e.k0 >> (8 * (d - 9)))
}

// radixSortEntries sorts entries by (k0, k1, n) a byte at a time, least
// significant first, skipping the bytes all entries share; each pass is
// stable, so equal entries keep their order, by position. spare is
// scratch of the same length; the sorted entries are in whichever of the
// two it returns. With a comparison sort the function calls alone cost
// more than all the passes (100,000 subjects: about 1.7 million calls).
func radixSortEntries(entries, spare []sortEntry) []sortEntry {
	var counts [entryDigits][256]int
	for i := range entries {
		e := &entries[i]
		counts[0][byte(e.n)]++
		for b := range 8 {
			counts[1+b][byte(e.k1>>(8*b))]++
			counts[9+b][byte(e.k0>>(8*b))]++
		}
	}
	src, dst := entries, spare
	for d := range entryDigits {
		c := &counts[d]
		if c[src[0].digit(d)] == len(src) {
			continue // every entry has this byte
		}
		var at [256]int
		sum := 0
		for v, k := range c {
			at[v], sum = sum, sum+k
		}
		for i := range src {
			v := src[i].digit(d)
			dst[at[v]] = src[i]
			at[v]++
		}
		src, dst = dst, src
	}
	return src
}

// sortOrder returns the positions 0..n-1 ordered as compareMessages
// orders them.
func sortOrder(cols []sortColumn, n int) []int32 {
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	if len(cols) > 0 {
		s := entrySorter{entries: make([]sortEntry, n), spare: make([]sortEntry, n)}
		s.sort(cols, order, 0)
	}
	return order
}

// radixMin is the shortest run entrySorter radix-sorts; shorter ones are
// sorted by comparison, for which a few hundred messages cost less than
// a radix sort's passes and counts.
const radixMin = 256

// entrySorter sorts runs of messages by sortEntry, with scratch space
// for the longest.
type entrySorter struct{ entries, spare []sortEntry }

// sort orders run, messages in ascending position whose keys before
// cols[0] are equal and whose cols[0] strings agree on their first off
// bytes, as compareMessages orders them: by one radix sort of sortEntry
// (cols[0]'s next headLen bytes and length, or its number), then each
// run of equal entries by the bytes after those (a string longer than
// that) or by the next key. A shorter string with the same head is a
// longer one's prefix plus zeros, so it comes first, as its length
// says. Most runs are single messages, or decided.
func (s *entrySorter) sort(cols []sortColumn, run []int32, off int) {
	if len(run) < 2 {
		return
	}
	col := &cols[0]
	if len(cols) == 1 && off > 0 && sameStrings(col, run) {
		return // one thread's subject: in order by position already
	}
	if len(run) < radixMin {
		slices.SortFunc(run, func(x, y int32) int { return compareMessages(cols, x, y) })
		return
	}
	entries := s.entries[:len(run)]
	for j, x := range run {
		entries[j] = col.entry(x, off)
	}
	entries = radixSortEntries(entries, s.spare[:len(run)])
	for j := range entries {
		run[j] = entries[j].i
	}
	long := func(e sortEntry) bool { return e.n == headLen+1 || e.n == ^uint32(headLen+1) }
	// Runs of equal entries, noted before the recursion reuses entries.
	type tie struct {
		lo, hi int
		long   bool
	}
	var ties []tie
	for lo := 0; lo < len(entries); {
		e := entries[lo]
		hi := lo + 1
		for hi < len(entries) && entries[hi].k0 == e.k0 && entries[hi].k1 == e.k1 && entries[hi].n == e.n {
			hi++
		}
		if hi-lo > 1 && (long(e) || len(cols) > 1) {
			ties = append(ties, tie{lo, hi, long(e)})
		}
		lo = hi
	}
	for _, t := range ties {
		if t.long {
			s.sort(cols, run[t.lo:t.hi], off+headLen)
		} else {
			s.sort(cols[1:], run[t.lo:t.hi], 0)
		}
	}
}

// entry is message i's sortEntry for this key from byte off of its
// string.
func (col *sortColumn) entry(i int32, off int) sortEntry {
	e := sortEntry{i: i}
	switch {
	case col.starts == nil:
		e.k0 = uint64(col.ints[i]) ^ 1<<63
	case off == 0:
		e.k0, e.k1 = col.heads[i][0], col.heads[i][1]
		e.n = min(col.ends[i]-col.starts[i], headLen+1)
	default:
		rest := col.str(i)[min(off, int(col.ends[i]-col.starts[i])):]
		var head [headLen]byte
		copy(head[:], rest)
		e.k0, e.k1 = binary.BigEndian.Uint64(head[:8]), binary.BigEndian.Uint64(head[8:])
		e.n = uint32(min(len(rest), headLen+1))
	}
	if col.reverse {
		e.k0, e.k1, e.n = ^e.k0, ^e.k1, ^e.n
	}
	return e
}

// sameStrings says whether col holds one string for all of run: then a
// run of one key is in order already (by position). Long subjects of one
// thread make such runs.
func sameStrings(col *sortColumn, run []int32) bool {
	s := col.str(run[0])
	for _, x := range run[1:] {
		if !bytes.Equal(col.str(x), s) {
			return false
		}
	}
	return true
}
