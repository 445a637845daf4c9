package inflate

import (
	"errors"
	"io"
)

// Checkpoint is the state of a quiet Reader besides its window: the
// input bits it holds but could not use yet, and whether they continue
// a fixed-Huffman block. After a client's Z_PARTIAL_FLUSH the server has
// the start of an empty fixed block (its header, maybe part of its
// end-of-block code) and the client still holds the rest; after
// Z_SYNC_FLUSH or Z_FULL_FLUSH there is nothing (a stored block's padding
// is consumed with its length). A Reader resumed from the window and the
// Checkpoint reads the rest of the stream as the quiet one would.
type Checkpoint struct {
	// Fixed says the bits continue a fixed-Huffman block (after its
	// header), Final that it is the stream's last; otherwise the bits
	// begin a block header.
	Fixed, Final bool
	// Bits holds NBits pending input bits, the first in the least
	// significant bit.
	Bits  uint64
	NBits uint8
}

// maxPendingBits bounds a checkpoint's bits: the longest step a fixed
// block can wait on (a 9-bit length code, 5 extra bits, a 5-bit
// distance code and 13 extra bits) is 32 bits.
const maxPendingBits = 56

// Quiet reports whether the Reader's whole state is its window and a
// Checkpoint: it stopped for want of input at a block header or between
// the symbols of a fixed-Huffman block, and the caller has taken all it
// decoded. A stream that is not quiet (in a stored or dynamic block, or
// output not taken) cannot be resumed from a checkpoint.
func (r *Reader) Quiet() bool {
	_, ok := r.Checkpoint()
	return ok
}

// Checkpoint returns the Reader's state besides its window, and ok false
// unless it is Quiet.
func (r *Reader) Checkpoint() (Checkpoint, bool) {
	if r.err != nil || !r.starved || r.rd != r.wr {
		return Checkpoint{}, false
	}
	var cp Checkpoint
	switch {
	case r.mode == modeHeader:
	case r.mode == modeBlock && r.lit == &fixedTables.lit && r.copyLen == 0:
		cp.Fixed, cp.Final = true, r.final
	default:
		return Checkpoint{}, false
	}
	pending := r.nbits + 8*uint(len(r.buf)-r.pos)
	if pending > maxPendingBits {
		return Checkpoint{}, false
	}
	cp.Bits, cp.NBits = r.bits, uint8(r.nbits)
	for _, b := range r.buf[r.pos:] {
		cp.Bits |= uint64(b) << cp.NBits
		cp.NBits += 8
	}
	return cp, true
}

// AppendWindow appends the Reader's history, the last WindowSize bytes
// at most of what it decoded (or was given as its dictionary), to dst.
func (r *Reader) AppendWindow(dst []byte) []byte {
	if r.full {
		dst = append(dst, r.hist[r.wr:]...)
	}
	return append(dst, r.hist[:r.wr]...)
}

// Resume returns a Reader that goes on from a quiet Reader's window and
// checkpoint, reading the rest of the stream from src.
func Resume(src io.Reader, window []byte, cp Checkpoint) (*Reader, error) {
	r := new(Reader)
	if err := r.ResetResume(src, window, cp); err != nil {
		return nil, err
	}
	return r, nil
}

// ResetResume makes r what Resume(src, window, cp) returns, reusing r's
// buffers as Reset does.
func (r *Reader) ResetResume(src io.Reader, window []byte, cp Checkpoint) error {
	if cp.NBits > maxPendingBits || cp.Bits>>cp.NBits != 0 || (cp.Final && !cp.Fixed) {
		return errCheckpoint
	}
	r.Reset(src, window)
	r.bits, r.nbits = cp.Bits, uint(cp.NBits)
	if cp.Fixed {
		r.mode, r.final = modeBlock, cp.Final
		r.lit, r.dist = &fixedTables.lit, &fixedTables.dist
	}
	return nil
}

// errCheckpoint says a Checkpoint's encoding is not valid.
var errCheckpoint = errors.New("inflate: corrupt checkpoint")

// Checkpoint encoding: a flags byte, the number of bits, then the bits
// in as few bytes as hold them, least significant first.
const (
	cpFixed = 1 << iota
	cpFinal
)

// AppendBinary appends the checkpoint's encoding to dst.
func (cp Checkpoint) AppendBinary(dst []byte) ([]byte, error) {
	var flags byte
	if cp.Fixed {
		flags |= cpFixed
	}
	if cp.Final {
		flags |= cpFinal
	}
	dst = append(dst, flags, cp.NBits)
	for i := 0; i < int(cp.NBits); i += 8 {
		dst = append(dst, byte(cp.Bits>>i))
	}
	return dst, nil
}

// ParseCheckpoint decodes a checkpoint at the start of b and returns the
// bytes after it.
func ParseCheckpoint(b []byte) (Checkpoint, []byte, error) {
	if len(b) < 2 || b[0]&^(cpFixed|cpFinal) != 0 || b[1] > maxPendingBits {
		return Checkpoint{}, nil, errCheckpoint
	}
	cp := Checkpoint{Fixed: b[0]&cpFixed != 0, Final: b[0]&cpFinal != 0, NBits: b[1]}
	n := (int(cp.NBits) + 7) / 8
	if len(b) < 2+n {
		return Checkpoint{}, nil, errCheckpoint
	}
	for i, x := range b[2 : 2+n] {
		cp.Bits |= uint64(x) << (8 * i)
	}
	if cp.Bits>>cp.NBits != 0 || (cp.Final && !cp.Fixed) {
		return Checkpoint{}, nil, errCheckpoint
	}
	return cp, b[2+n:], nil
}
