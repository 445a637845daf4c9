package imapmsg

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"unicode/utf8"
)

// textMatcher finds needles, already in search form (foldString), in
// text given to it in pieces, as SEARCH BODY compares them: it folds each
// piece and searches the folded bytes, keeping the last bytes of one
// piece's folding before the next so that a match across pieces is
// found. Text is cut into pieces just before an ASCII byte where it can
// be (a starter: NFKD reorders no combining mark across it, so folding
// the pieces gives the folding of the whole), else at a rune boundary.
// An ASCII piece is folded by lower-casing eight bytes at a time
// (foldASCII), the common case of mail text; others go through folder.
//
// A textMatcher keeps its buffers from one message to the next: the
// check of a search over a mailbox allocates nothing per message.
type textMatcher struct {
	needles [][]byte
	found   []bool
	left    int // needles not found yet
	longest int // longest needle not found yet
	f       *folder
	raw     []byte // a reader's bytes not yet folded
	out     []byte // folded bytes: the kept tail, then the last piece
	keep    int
	// piece is the size of a piece, matchPiece when 0 (tests make it
	// small, to cut short texts into many pieces).
	piece int
}

// matchPiece is how many bytes of text are folded and searched at a time.
const matchPiece = 32 << 10

// reset starts a message: no needle found, no kept bytes.
func (mt *textMatcher) reset(needles [][]byte) {
	mt.needles = needles
	mt.found = slices.Grow(mt.found[:0], len(needles))[:len(needles)]
	clear(mt.found)
	mt.left, mt.longest, mt.keep = len(needles), 0, 0
	for _, n := range needles {
		mt.longest = max(mt.longest, len(n))
	}
}

// startText starts a part's text: the empty string is in any text, even
// an empty one (and in a message without text in none, as BODY always
// answered).
func (mt *textMatcher) startText() {
	for i, n := range mt.needles {
		if len(n) == 0 && !mt.found[i] {
			mt.found[i] = true
			mt.left--
		}
	}
}

// endText forgets the kept bytes: the next text is a new part, and a
// match must not span two parts.
func (mt *textMatcher) endText() { mt.keep = 0 }

// scanBytes searches text b, a whole part's decoded text, and reports
// whether every needle is found; it stops at that point.
func (mt *textMatcher) scanBytes(b []byte) bool {
	defer mt.endText()
	mt.startText()
	size := mt.pieceSize()
	for len(b) > 0 && mt.left > 0 {
		end := len(b)
		if end > size {
			end = pieceCut(b[:size])
		}
		mt.fold(b[:end])
		b = b[end:]
	}
	return mt.left == 0
}

// scanReader searches the text r gives, a whole part's decoded text,
// until its end or a read error (what was read is searched), and reports
// whether every needle is found; it stops reading at that point.
func (mt *textMatcher) scanReader(r io.Reader) bool {
	defer mt.endText()
	mt.startText()
	size := mt.pieceSize()
	if cap(mt.raw) < size {
		mt.raw = make([]byte, size)
	}
	raw := mt.raw[:size]
	have := 0
	for mt.left > 0 {
		n, err := r.Read(raw[have:])
		have += n
		if err != nil {
			mt.fold(raw[:have])
			break
		}
		if have < len(raw) {
			continue
		}
		cut := pieceCut(raw[:have])
		mt.fold(raw[:cut])
		have = copy(raw, raw[cut:have])
	}
	return mt.left == 0
}

// pieceSize is how many bytes of text are folded at a time: room for a
// rune and a cut before it at least (pieceCut).
func (mt *textMatcher) pieceSize() int {
	if mt.piece > 0 {
		return max(mt.piece, 2*utf8.UTFMax)
	}
	return matchPiece
}

// pieceCut is where to end a piece of text that goes on after b: before
// b's last ASCII byte, else at its last rune start, else (no rune start:
// not UTF-8) after b.
func pieceCut(b []byte) int {
	for i := len(b) - 1; i > 0; i-- {
		if b[i] < utf8.RuneSelf {
			return i
		}
	}
	for i := len(b) - 1; i > 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return len(b)
}

// fold folds piece after the kept bytes and searches the result for the
// needles not found yet.
func (mt *textMatcher) fold(piece []byte) {
	if len(piece) == 0 {
		return
	}
	out := mt.out[:mt.keep]
	if ascii, ok := foldASCII(out, piece); ok {
		out = ascii
	} else {
		if mt.f == nil {
			mt.f = newFolder()
		}
		out = mt.f.appendFold(out, piece)
	}
	mt.out = out
	longest := 0
	for i, n := range mt.needles {
		if mt.found[i] {
			continue
		}
		if bytes.Contains(out, n) {
			mt.found[i] = true
			mt.left--
			continue
		}
		longest = max(longest, len(n))
	}
	mt.longest = longest
	mt.keep = min(max(longest-1, 0), len(out))
	copy(mt.out, out[len(out)-mt.keep:])
}

const (
	eachByte  = 0x0101010101010101
	highBits  = 0x8080808080808080
	lowerDiff = 'a' - 'A'
)

// foldASCII appends src lower-cased to dst when src is all ASCII (its
// folding, as folder gives it), eight bytes at a time, and reports false
// (dst unchanged in length) when it is not.
func foldASCII(dst, src []byte) ([]byte, bool) {
	n := len(dst)
	dst = slices.Grow(dst, len(src))[:n+len(src)]
	d := dst[n:]
	var seen uint64
	i := 0
	for ; i+8 <= len(src); i += 8 {
		w := binary.LittleEndian.Uint64(src[i:])
		seen |= w
		// For ASCII bytes (high bit clear) neither sum carries into
		// the next byte: the high bit of a byte of ge is set when it
		// is >= 'A', of gt when it is > 'Z'.
		ge := (w &^ highBits) + (0x80-'A')*eachByte
		gt := (w &^ highBits) + (0x80-'Z'-1)*eachByte
		upper := ge &^ gt & highBits
		binary.LittleEndian.PutUint64(d[i:], w|upper>>2) // 0x80>>2 = 'a'-'A'
	}
	for ; i < len(src); i++ {
		c := src[i]
		seen |= uint64(c)
		if 'A' <= c && c <= 'Z' {
			c += lowerDiff
		}
		d[i] = c
	}
	if seen&highBits != 0 {
		return dst[:n], false
	}
	return dst, true
}
