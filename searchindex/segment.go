package searchindex

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
)

// A segment is one immutable file of the index: the trigram postings of
// a set of messages. Layout, little-endian:
//
//	0  magic "DMTRIGRM"
//	8  version u32
//	12 UIDVALIDITY u32
//	16 number of UIDs u32
//	20 bytes of the UID block u32
//	24 table offset u64
//	32 number of trigrams u32
//	36 zero u32
//	40 UID block: the UIDs indexed, ascending, as delta uvarints
//	   postings: per trigram, its UIDs ascending as delta uvarints
//	   table: per trigram, ascending, (trigram u32, end of its postings
//	   relative to the start of the postings u32)
//
// The header is written last, so a file cut short by a crash fails its
// checks and is dropped (rebuilt).
const (
	magic      = "DMTRIGRM"
	headerSize = 40
	entrySize  = 8
)

var (
	errOrder   = errors.New("searchindex: UIDs added out of order")
	errCorrupt = errors.New("searchindex: corrupt segment")
)

// segment is an open segment file.
type segment struct {
	path        string
	f           *os.File
	uidValidity uint32
	uids        []uint32 // the messages it indexed
	postingsOff int64
	tableOff    int64
	nTri        int
}

// openSegment opens and checks the segment at path. It reports errStale
// for a segment of another version or UIDVALIDITY.
func openSegment(path string, uidValidity uint32) (*segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s, err := readSegment(f, uidValidity)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("segment %s: %w", path, err)
	}
	s.path = path
	return s, nil
}

var errStale = errors.New("searchindex: segment of another version or UIDVALIDITY")

func readSegment(f *os.File, uidValidity uint32) (*segment, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var h [headerSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return nil, errCorrupt
	}
	if string(h[:8]) != magic {
		return nil, errCorrupt
	}
	if binary.LittleEndian.Uint32(h[8:]) != version || binary.LittleEndian.Uint32(h[12:]) != uidValidity {
		return nil, errStale
	}
	s := &segment{f: f, uidValidity: uidValidity}
	nUIDs := int(binary.LittleEndian.Uint32(h[16:]))
	uidBytes := int64(binary.LittleEndian.Uint32(h[20:]))
	s.tableOff = int64(binary.LittleEndian.Uint64(h[24:]))
	s.nTri = int(binary.LittleEndian.Uint32(h[32:]))
	s.postingsOff = headerSize + uidBytes
	if s.tableOff < s.postingsOff || s.tableOff+int64(s.nTri)*entrySize != st.Size() || int64(nUIDs) > uidBytes {
		return nil, errCorrupt
	}
	block := make([]byte, uidBytes)
	if _, err := f.ReadAt(block, headerSize); err != nil {
		return nil, errCorrupt
	}
	s.uids, err = decodeUIDs(block, make([]uint32, 0, nUIDs))
	if err != nil || len(s.uids) != nUIDs {
		return nil, errCorrupt
	}
	return s, nil
}

func (s *segment) close() error { return s.f.Close() }

// entry reads table entry i: its trigram and the span of its postings.
func (s *segment) entry(i int) (tri uint32, from, to int64, err error) {
	var b [2 * entrySize]byte
	off := s.tableOff + int64(i)*entrySize
	if i == 0 {
		if _, err := s.f.ReadAt(b[entrySize:], off); err != nil {
			return 0, 0, 0, err
		}
	} else if _, err := s.f.ReadAt(b[:], off-entrySize); err != nil {
		return 0, 0, 0, err
	}
	from = int64(binary.LittleEndian.Uint32(b[4:]))
	tri = binary.LittleEndian.Uint32(b[8:])
	to = int64(binary.LittleEndian.Uint32(b[12:]))
	if to < from || s.postingsOff+to > s.tableOff {
		return 0, 0, 0, errCorrupt
	}
	return tri, s.postingsOff + from, s.postingsOff + to, nil
}

// find returns the span of tri's postings, ok false when the segment has
// none (no message of it holds tri).
func (s *segment) find(tri uint32) (from, to int64, ok bool, err error) {
	lo, hi := 0, s.nTri
	var b [4]byte
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if _, err := s.f.ReadAt(b[:], s.tableOff+int64(mid)*entrySize); err != nil {
			return 0, 0, false, err
		}
		if binary.LittleEndian.Uint32(b[:]) < tri {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == s.nTri {
		return 0, 0, false, nil
	}
	t, from, to, err := s.entry(lo)
	if err != nil || t != tri {
		return 0, 0, false, err
	}
	return from, to, true, nil
}

// postings reads and decodes the span [from, to).
func (s *segment) postings(from, to int64) ([]uint32, error) {
	b := make([]byte, to-from)
	if _, err := s.f.ReadAt(b, from); err != nil {
		return nil, err
	}
	return decodeUIDs(b, nil)
}

// decodeUIDs appends the delta uvarints of b to dst.
func decodeUIDs(b []byte, dst []uint32) ([]uint32, error) {
	var last uint64
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 || last+d > math.MaxUint32 || (len(dst) > 0 && d == 0) {
			return nil, errCorrupt
		}
		last += d
		dst = append(dst, uint32(last))
		b = b[n:]
	}
	return dst, nil
}

// appendUIDs appends uids, ascending, as delta uvarints.
func appendUIDs(dst []byte, uids []uint32) []byte {
	var last uint32
	for _, u := range uids {
		dst = binary.AppendUvarint(dst, uint64(u-last))
		last = u
	}
	return dst
}

// segmentWriter writes a segment: the UIDs first, then each trigram's
// postings in ascending trigram order, then the table and the header.
type segmentWriter struct {
	f     *os.File
	w     *bufio.Writer
	table []byte
	pos   int64 // bytes of postings written
	nTri  int
	hdr   [headerSize]byte
	buf   []byte
}

func newSegmentWriter(f *os.File, uidValidity uint32, uids []uint32) (*segmentWriter, error) {
	sw := &segmentWriter{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	block := appendUIDs(nil, uids)
	if len(block) > math.MaxUint32 {
		return nil, errors.New("searchindex: segment too large")
	}
	copy(sw.hdr[:], magic)
	binary.LittleEndian.PutUint32(sw.hdr[8:], version)
	binary.LittleEndian.PutUint32(sw.hdr[12:], uidValidity)
	binary.LittleEndian.PutUint32(sw.hdr[16:], uint32(len(uids)))
	binary.LittleEndian.PutUint32(sw.hdr[20:], uint32(len(block)))
	// A zero header until the end: a file cut short has no magic.
	if _, err := sw.w.Write(make([]byte, headerSize)); err != nil {
		return nil, err
	}
	if _, err := sw.w.Write(block); err != nil {
		return nil, err
	}
	return sw, nil
}

// add writes the postings of tri, which must be above the last one's.
func (sw *segmentWriter) add(tri uint32, uids []uint32) error {
	if len(uids) == 0 {
		return nil
	}
	sw.buf = appendUIDs(sw.buf[:0], uids)
	if sw.pos+int64(len(sw.buf)) > math.MaxUint32 {
		return errors.New("searchindex: segment too large")
	}
	if _, err := sw.w.Write(sw.buf); err != nil {
		return err
	}
	sw.pos += int64(len(sw.buf))
	sw.table = binary.LittleEndian.AppendUint32(sw.table, tri)
	sw.table = binary.LittleEndian.AppendUint32(sw.table, uint32(sw.pos))
	sw.nTri++
	return nil
}

// finish writes the table and the header and syncs the file.
func (sw *segmentWriter) finish() error {
	if _, err := sw.w.Write(sw.table); err != nil {
		return err
	}
	if err := sw.w.Flush(); err != nil {
		return err
	}
	uidBytes := binary.LittleEndian.Uint32(sw.hdr[20:])
	binary.LittleEndian.PutUint64(sw.hdr[24:], uint64(headerSize+int64(uidBytes)+sw.pos))
	binary.LittleEndian.PutUint32(sw.hdr[32:], uint32(sw.nTri))
	if _, err := sw.f.WriteAt(sw.hdr[:], 0); err != nil {
		return err
	}
	return sw.f.Sync()
}

// cursorBuffer is the bytes a segmentCursor reads at a time of the
// table (512 entries) and of the postings: a bulk build's final merge
// has a cursor on each of its batches, hundreds for a million messages.
const cursorBuffer = 4 << 10

// segmentCursor walks a segment's table and postings in order, for
// merging: both are read ahead sequentially, rather than a read for
// each trigram of each segment.
type segmentCursor struct {
	s     *segment
	r     *bufio.Reader // the table
	p     *bufio.Reader // the postings, at the current trigram's
	i     int
	tri   uint32
	from  int64 // span of the current trigram's postings
	to    int64
	valid bool
	read  bool            // the current trigram's postings were read
	ent   [entrySize]byte // the table entry read last (a field: no allocation per entry)
}

func newSegmentCursor(s *segment) (*segmentCursor, error) {
	c := &segmentCursor{s: s,
		r: bufio.NewReaderSize(io.NewSectionReader(s.f, s.tableOff, int64(s.nTri)*entrySize), cursorBuffer),
		p: bufio.NewReaderSize(io.NewSectionReader(s.f, s.postingsOff, s.tableOff-s.postingsOff), cursorBuffer)}
	return c, c.next()
}

// postings reads the current trigram's postings into buf and appends
// its UIDs to dst, growing either as needed, and returns both for
// reuse. It is called at most once per trigram.
func (c *segmentCursor) postings(buf []byte, dst []uint32) ([]byte, []uint32, error) {
	c.read = true
	n := int(c.to - c.from)
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(c.p, buf); err != nil {
		return buf, dst, err
	}
	dst, err := decodeUIDs(buf, dst)
	return buf, dst, err
}

// next moves to the next trigram, skipping the postings of the current
// one if they were not read.
func (c *segmentCursor) next() error {
	if c.valid && !c.read {
		if _, err := c.p.Discard(int(c.to - c.from)); err != nil {
			return err
		}
	}
	c.read = false
	if c.i == c.s.nTri {
		c.valid = false
		return nil
	}
	if _, err := io.ReadFull(c.r, c.ent[:]); err != nil {
		return err
	}
	tri := binary.LittleEndian.Uint32(c.ent[:])
	end := int64(binary.LittleEndian.Uint32(c.ent[4:]))
	from := c.to
	if c.i == 0 {
		from = c.s.postingsOff
	}
	if (c.i > 0 && tri <= c.tri) || c.s.postingsOff+end < from || c.s.postingsOff+end > c.s.tableOff {
		return errCorrupt
	}
	c.tri, c.from, c.to, c.valid = tri, from, c.s.postingsOff+end, true
	c.i++
	return nil
}

// mergeSorted returns the union of ascending lists a and b.
func mergeSorted(a, b []uint32) []uint32 {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	return mergeInto(make([]uint32, 0, len(a)+len(b)), a, b)
}

// mergeInto appends the union of ascending lists a and b to out, which
// must not share memory with either.
func mergeInto(out, a, b []uint32) []uint32 {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// intersectSorted returns the ascending elements of a also in b.
func intersectSorted(a, b []uint32) []uint32 {
	out := a[:0]
	j := 0
	for _, x := range a {
		k, found := slices.BinarySearch(b[j:], x)
		j += k
		if found {
			out = append(out, x)
		}
		if j == len(b) {
			break
		}
	}
	return out
}
