// Package inflate is a resumable DEFLATE (RFC 1951) decoder for a
// connection's input, as COMPRESS=DEFLATE (RFC 4978) needs it.
//
// compress/flate and klauspost/compress return decoded data only when
// their window fills, at a stored block or at the final block: after a
// client's Z_PARTIAL_FLUSH (the block ended, then an empty fixed-Huffman
// block whose last bits stay in the client's bit buffer, unsent) they go
// on into the next block header and wait for bits that never come, and
// the client waits for an answer to a command the server never sees
// (isync's mbsync does this). A Reader returns what it decoded at every
// block end. It owns its input buffer and consumes no bits it cannot
// finish a step with (a header, a symbol with its extra bits and its
// distance): when the input runs out mid-step it keeps its state, so a
// read deadline or a short read never breaks the stream, and a quiet
// Reader's whole state is its window and a few pending bits (Checkpoint),
// which is what a hibernated connection keeps.
package inflate

import (
	"errors"
	"fmt"
	"io"
)

// WindowSize is DEFLATE's history (RFC 1951 2.2): the farthest a
// compressor may refer back, so the most a Reader keeps.
const WindowSize = 32 << 10

// inputSize is a Reader's input buffer: more than the longest step
// (a dynamic block header is under 400 bytes).
const inputSize = 4 << 10

// ErrCorrupt is wrapped by every error about the stream's content; such
// an error sticks.
var ErrCorrupt = errors.New("inflate: corrupt input")

// mode is where in the stream a Reader is.
type mode uint8

const (
	modeHeader    mode = iota // at a block header
	modeStoredLen             // a stored block's LEN and NLEN next
	modeStored                // in a stored block's bytes
	modeDynHeader             // a dynamic block's code lengths next
	modeBlock                 // in a Huffman-coded block's symbols
	modeDone                  // after the final block
)

// Reader decodes a raw DEFLATE stream read from its source.
type Reader struct {
	src io.Reader
	err error // sticky: a corrupt stream

	// Input: buf[pos:] unconsumed bytes, bits/nbits the bits taken from
	// buf and not yet used (bits above nbits are zero).
	buf   []byte
	pos   int
	bits  uint64
	nbits uint
	// starved says the last decode stopped for want of input.
	starved bool

	mode   mode
	final  bool   // the current block is the last
	stored int    // bytes left in a stored block
	lit    *table // the current block's literal/length code
	dist   *table // and its distance code
	// copyLen, copyDist: a match not all written yet (the window was
	// full of output the caller had not taken).
	copyLen, copyDist int
	dynLit, dynDist   table

	// Output: hist is the window, written at wr; hist[rd:wr] is decoded
	// and not yet returned. full says hist has wrapped once (or was
	// given a whole window).
	hist   []byte
	rd, wr int
	full   bool
}

// NewReader returns a Reader of the raw DEFLATE stream from src whose
// history begins with dict (a preset dictionary; its last WindowSize
// bytes count).
func NewReader(src io.Reader, dict []byte) *Reader {
	r := new(Reader)
	r.Reset(src, dict)
	return r
}

// Reset makes r what NewReader(src, dict) returns, reusing the buffers
// r has (its window alone is 32 KiB): a server that decodes many short
// inputs, such as its sleepers' commands, need not allocate them each
// time. Nothing of the stream r read before remains.
func (r *Reader) Reset(src io.Reader, dict []byte) {
	hist, buf := r.hist, r.buf[:0]
	if hist == nil {
		hist = make([]byte, WindowSize)
	}
	if buf == nil {
		buf = make([]byte, 0, inputSize)
	}
	// starved: with no input yet there is nothing to decode, so a new
	// Reader (or one resumed from a checkpoint, whose bits were too few
	// for a step) is quiet until it reads. What a reused window holds
	// past wr is never referred to: histSize is wr until it wraps.
	*r = Reader{src: src, buf: buf, hist: hist, starved: true}
	if len(dict) > WindowSize {
		dict = dict[len(dict)-WindowSize:]
	}
	r.wr = copy(r.hist, dict)
	r.rd = r.wr
}

// Read returns what the Reader decoded: at every block end, when its
// window is full of output or p is, and when its input runs out, it
// returns what it has. An error of the source (a read deadline) is
// returned as it is and the Reader may be read again; io.EOF from the
// source is io.EOF where the Reader is Quiet (the stream may end there)
// and io.ErrUnexpectedEOF elsewhere.
// Corrupt input (ErrCorrupt) ends the stream for good.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if r.rd < r.wr && (r.err != nil || r.mode == modeDone) {
			return r.take(p), nil
		}
		if r.err != nil {
			return 0, r.err
		}
		ev, err := r.decode(len(p))
		if err != nil {
			r.err = err
			continue
		}
		if r.rd < r.wr {
			return r.take(p), nil
		}
		switch ev {
		case evDone:
			return 0, io.EOF
		case evStarved:
			if err := r.fill(); err != nil {
				return 0, err
			}
		}
	}
}

// take copies decoded output into p.
func (r *Reader) take(p []byte) int {
	n := copy(p, r.hist[r.rd:r.wr])
	r.rd += n
	return n
}

// fill reads more input from the source.
func (r *Reader) fill() error {
	if r.pos > 0 {
		r.buf = r.buf[:copy(r.buf, r.buf[r.pos:])]
		r.pos = 0
	}
	var n int
	var err error
	// A source may return nothing and no error now and then (as
	// bufio.Reader allows, a hundred times).
	for range 100 {
		if n, err = r.src.Read(r.buf[len(r.buf):cap(r.buf)]); n > 0 || err != nil {
			break
		}
	}
	r.buf = r.buf[:len(r.buf)+n]
	if n > 0 {
		r.starved = false
		return nil
	}
	switch {
	case err == io.EOF && r.Quiet():
		return io.EOF
	case err == io.EOF:
		return io.ErrUnexpectedEOF
	case err == nil:
		return io.ErrNoProgress
	}
	return err
}

// event is why decode stopped.
type event uint8

const (
	evBlockEnd event = iota // a block ended
	evFull                  // the window is full of output not taken
	evEnough                // as much output as the caller can take
	evStarved               // the input ran out mid-step
	evDone                  // the final block ended
)

// decode decodes until an event, with at most want bytes of output
// pending.
func (r *Reader) decode(want int) (event, error) {
	for {
		switch r.mode {
		case modeDone:
			return evDone, nil
		case modeHeader:
			if !r.need(3) {
				return r.starve(), nil
			}
			r.final = r.bits&1 == 1
			typ := (r.bits >> 1) & 3
			r.consume(3)
			switch typ {
			case 0:
				r.mode = modeStoredLen
			case 1:
				r.lit, r.dist = &fixedTables.lit, &fixedTables.dist
				r.mode = modeBlock
			case 2:
				r.mode = modeDynHeader
			default:
				return 0, fmt.Errorf("%w: reserved block type", ErrCorrupt)
			}
		case modeStoredLen:
			m := r.mark()
			r.consume(r.nbits % 8)
			if !r.need(32) {
				r.reset(m)
				return r.starve(), nil
			}
			n, nn := r.bits&0xffff, (r.bits>>16)&0xffff
			r.consume(32)
			if n != ^nn&0xffff {
				return 0, fmt.Errorf("%w: stored block length", ErrCorrupt)
			}
			r.stored = int(n)
			r.mode = modeStored
		case modeStored:
			if r.stored == 0 {
				return r.blockEnd(), nil
			}
			if ev, stop := r.outputStop(want); stop {
				return ev, nil
			}
			if !r.copyStored() {
				return r.starve(), nil
			}
		case modeDynHeader:
			m := r.mark()
			ok, err := r.readDynHeader()
			if err != nil {
				return 0, err
			}
			if !ok {
				r.reset(m)
				return r.starve(), nil
			}
			r.lit, r.dist = &r.dynLit, &r.dynDist
			r.mode = modeBlock
		case modeBlock:
			if r.copyLen > 0 {
				if ev, stop := r.outputStop(want); stop {
					return ev, nil
				}
				r.copyMatch()
				continue
			}
			if ev, stop := r.outputStop(want); stop {
				return ev, nil
			}
			end, ok, err := r.symbol()
			switch {
			case err != nil:
				return 0, err
			case !ok:
				return r.starve(), nil
			case end:
				return r.blockEnd(), nil
			}
		}
	}
}

// starve notes that decoding stopped for want of input.
func (r *Reader) starve() event {
	r.starved = true
	return evStarved
}

// blockEnd moves past a block's end.
func (r *Reader) blockEnd() event {
	if r.final {
		r.mode = modeDone
		return evDone
	}
	r.mode = modeHeader
	return evBlockEnd
}

// outputStop reports whether decoding must stop to let output be taken:
// the window's end is reached, or want bytes are pending.
func (r *Reader) outputStop(want int) (event, bool) {
	if r.wr == len(r.hist) {
		if r.rd < r.wr {
			return evFull, true
		}
		r.rd, r.wr, r.full = 0, 0, true
	}
	if r.wr-r.rd >= want {
		return evEnough, true
	}
	return 0, false
}

// copyStored copies a stored block's bytes to the window, as many as
// there are and fit; false when there are none.
func (r *Reader) copyStored() bool {
	room := min(r.stored, len(r.hist)-r.wr)
	n := 0
	for n < room && r.nbits >= 8 { // whole bytes taken before the block
		r.hist[r.wr] = byte(r.bits)
		r.wr++
		r.consume(8)
		n++
	}
	k := copy(r.hist[r.wr:r.wr+room-n], r.buf[r.pos:])
	r.pos += k
	r.wr += k
	n += k
	r.stored -= n
	return n > 0
}

// copyMatch writes as much of the pending match as fits in the window.
func (r *Reader) copyMatch() {
	n := min(r.copyLen, len(r.hist)-r.wr)
	src := r.wr - r.copyDist
	if src < 0 {
		src += len(r.hist)
	}
	for i := 0; i < n; i++ {
		r.hist[r.wr] = r.hist[src]
		r.wr++
		if src++; src == len(r.hist) {
			src = 0
		}
	}
	r.copyLen -= n
}

// histSize is how far back a match may refer.
func (r *Reader) histSize() int {
	if r.full {
		return len(r.hist)
	}
	return r.wr
}

// symbol decodes one literal, or one length with its distance, or the
// end of the block (end); ok false, with nothing consumed, when the
// input does not hold the whole step.
func (r *Reader) symbol() (end, ok bool, err error) {
	m := r.mark()
	sym, ok, err := r.decodeSym(r.lit)
	if !ok || err != nil {
		r.reset(m)
		return false, false, err
	}
	switch {
	case sym < 256:
		r.hist[r.wr] = byte(sym)
		r.wr++
		return false, true, nil
	case sym == 256:
		return true, true, nil
	case sym > 285:
		return false, false, fmt.Errorf("%w: literal/length symbol %d", ErrCorrupt, sym)
	}
	lc := lengthCodes[sym-257]
	if !r.need(uint(lc.extra)) {
		r.reset(m)
		return false, false, nil
	}
	length := int(lc.base) + int(r.bits&(1<<lc.extra-1))
	r.consume(uint(lc.extra))
	dsym, ok, err := r.decodeSym(r.dist)
	if !ok || err != nil {
		r.reset(m)
		return false, false, err
	}
	if dsym >= 30 {
		return false, false, fmt.Errorf("%w: distance symbol %d", ErrCorrupt, dsym)
	}
	dc := distCodes[dsym]
	if !r.need(uint(dc.extra)) {
		r.reset(m)
		return false, false, nil
	}
	dist := int(dc.base) + int(r.bits&(1<<dc.extra-1))
	r.consume(uint(dc.extra))
	if dist > r.histSize() {
		return false, false, fmt.Errorf("%w: distance %d beyond the history (%d)", ErrCorrupt, dist, r.histSize())
	}
	r.copyLen, r.copyDist = length, dist
	return false, true, nil
}

// codeOrder is the order of the code length code's lengths (RFC 1951
// 3.2.7).
var codeOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// readDynHeader reads a dynamic block's code lengths and builds its
// tables; ok false when the input does not hold all of them.
func (r *Reader) readDynHeader() (ok bool, err error) {
	if !r.need(14) {
		return false, nil
	}
	nlit := int(r.bits&31) + 257
	ndist := int(r.bits>>5&31) + 1
	nclen := int(r.bits>>10&15) + 4
	r.consume(14)
	if nlit > 286 || ndist > 30 {
		return false, fmt.Errorf("%w: %d literal/length or %d distance codes", ErrCorrupt, nlit, ndist)
	}
	var lens [286 + 30]uint8
	for i := 0; i < nclen; i++ {
		if !r.need(3) {
			return false, nil
		}
		lens[codeOrder[i]] = uint8(r.bits & 7)
		r.consume(3)
	}
	var clen table
	if !clen.init(lens[:19]) {
		return false, fmt.Errorf("%w: code length code", ErrCorrupt)
	}
	clear(lens[:19])
	for i := 0; i < nlit+ndist; {
		sym, ok, err := r.decodeSym(&clen)
		if !ok || err != nil {
			return false, err
		}
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return false, fmt.Errorf("%w: repeat with no previous length", ErrCorrupt)
			}
			if !r.need(2) {
				return false, nil
			}
			rep, val = 3+int(r.bits&3), lens[i-1]
			r.consume(2)
		case 17:
			if !r.need(3) {
				return false, nil
			}
			rep = 3 + int(r.bits&7)
			r.consume(3)
		default:
			if !r.need(7) {
				return false, nil
			}
			rep = 11 + int(r.bits&127)
			r.consume(7)
		}
		if i+rep > nlit+ndist {
			return false, fmt.Errorf("%w: code lengths repeat past their end", ErrCorrupt)
		}
		for ; rep > 0; rep-- {
			lens[i] = val
			i++
		}
	}
	if lens[256] == 0 {
		return false, fmt.Errorf("%w: no end-of-block code", ErrCorrupt)
	}
	if !r.dynLit.init(lens[:nlit]) || !r.dynDist.init(lens[nlit:nlit+ndist]) {
		return false, fmt.Errorf("%w: Huffman code lengths", ErrCorrupt)
	}
	return true, nil
}

// bitMark is a point in the input to go back to.
type bitMark struct {
	pos   int
	bits  uint64
	nbits uint
}

func (r *Reader) mark() bitMark { return bitMark{r.pos, r.bits, r.nbits} }

func (r *Reader) reset(m bitMark) { r.pos, r.bits, r.nbits = m.pos, m.bits, m.nbits }

// need takes input bytes until n bits are at hand; false when the input
// runs out first.
func (r *Reader) need(n uint) bool {
	for r.nbits < n {
		if r.pos == len(r.buf) {
			return false
		}
		r.bits |= uint64(r.buf[r.pos]) << r.nbits
		r.pos++
		r.nbits += 8
	}
	return true
}

// consume drops n bits.
func (r *Reader) consume(n uint) {
	r.bits >>= n
	r.nbits -= n
}

// decodeSym decodes a symbol of h; ok false when the input ends first.
func (r *Reader) decodeSym(h *table) (sym int, ok bool, err error) {
	r.need(maxCodeLen) // as many as there are
	if e := h.fast[r.bits&(fastSize-1)]; e != 0 && uint(e&15) <= r.nbits {
		r.consume(uint(e & 15))
		return int(e >> 4), true, nil
	}
	// Canonical decoding, a bit at a time (codes longer than fastBits).
	code, first, index := 0, 0, 0
	for l := uint(1); l <= maxCodeLen; l++ {
		if l > r.nbits {
			return 0, false, nil
		}
		code |= int(r.bits>>(l-1)) & 1
		count := int(h.count[l])
		if code-count < first {
			r.consume(l)
			return int(h.symbol[index+code-first]), true, nil
		}
		index += count
		first += count
		first <<= 1
		code <<= 1
	}
	return 0, false, fmt.Errorf("%w: invalid Huffman code", ErrCorrupt)
}
