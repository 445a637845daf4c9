// Package imapdeflate is COMPRESS=DEFLATE (RFC 4978) for an IMAP
// connection and its sleeper: the stream an awake connection reads and
// writes through, the inflater state a sleeper keeps in its blob
// (hibernate.ExtDeflateWindow), the decoding of a sleeper's input from
// that state, and what a sleeper writes. The server (imapserver) and the
// proxy (package proxy) both end COMPRESS with it (docs/design.md,
// "Compressed connections").
package imapdeflate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/flate"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/internal/inflate"
)

// deflateDict is how much of what it sent the compressor refers back
// to: the most klauspost/compress's StatelessDeflate takes as its
// dictionary. Its stateful Writer (828 KB allocated at BestSpeed, for a
// 32 KiB history) would cost an awake compressed session twenty times
// its inflater; responses gain little from more history, as each burst
// ends in a sync flush anyway.
const deflateDict = 8 << 10

// Stream is a connection's compression layer after COMPRESS DEFLATE
// (RFC 4978): raw DEFLATE (RFC 1951, no zlib header) both ways, between
// the socket (or TLS) and the session's buffered reader and writer.
//
// The inflater (internal/inflate) returns what it decoded at every block
// end, so a command the client flushed is handed to the session at once
// whether it flushed with Z_SYNC_FLUSH, Z_FULL_FLUSH or Z_PARTIAL_FLUSH
// (isync's mbsync), without waiting for more input. It keeps its state
// when the input runs out mid-step, so a read deadline (an IDLE's
// keepalive, a change, hibernation) never breaks the stream. A
// connection may hibernate when the inflater is quiet (it waits for
// input at a block header or between a fixed block's symbols, everything
// it decoded taken by the session) and then keeps only the window, the
// last 32 KiB at most of what the client sent, and the few input bits
// the inflater could not use yet (the start of a partial flush's empty
// block); a new inflater resumes from them on the wake. The compressor
// is dropped: a fresh one after the wake never refers back past it, and
// the client's inflater keeps its own history, so its stream goes on
// unbroken.
//
// Each write of the session's buffered writer is compressed on its own
// (StatelessDeflate) with the last deflateDict bytes sent as its
// dictionary, and ends in a sync flush: the client can decode all of it
// at once, and nothing waits in a compressor.
type Stream struct {
	zr  *inflate.Reader
	out io.Writer
	// sent is the end of what was compressed, the next write's
	// dictionary; z holds a write's compressed form.
	sent []byte
	z    bytes.Buffer
}

// NewStream starts compression over in (the socket's input, after any
// bytes already read) and out, the inflater resuming from state (zero
// at COMPRESS; what a sleeper kept on a wake, checked by ParseState).
func NewStream(in io.Reader, out io.Writer, state State) *Stream {
	zr, err := inflate.Resume(in, state.Window, state.CP)
	if err != nil {
		panic(err) // state was checked when it was decoded (ParseState)
	}
	return &Stream{zr: zr, out: out}
}

// Read gives the session the client's decompressed input. Corrupt input
// ends the connection (no BYE can be sent in the middle of a compressed
// stream); a read deadline's error leaves the stream readable.
func (d *Stream) Read(p []byte) (int, error) {
	return d.zr.Read(p)
}

// Write compresses p on its own, with what was sent before as its
// dictionary, ending in a sync flush, and sends it.
func (d *Stream) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	d.z.Reset()
	if err := flate.StatelessDeflate(&d.z, p, false, d.sent); err != nil {
		return 0, fmt.Errorf("deflate: %w", err)
	}
	_, err := d.out.Write(d.z.Bytes())
	if d.z.Cap() > maxDeflateBuffer {
		d.z = bytes.Buffer{} // a large write's: not kept
	}
	if err != nil {
		return 0, err
	}
	if len(p) >= deflateDict {
		d.sent = append(d.sent[:0], p[len(p)-deflateDict:]...)
	} else {
		if keep := deflateDict - len(p); len(d.sent) > keep {
			d.sent = append(d.sent[:0], d.sent[len(d.sent)-keep:]...)
		}
		d.sent = append(d.sent, p...)
	}
	return len(p), nil
}

// maxDeflateBuffer bounds the compressed-output buffer a session keeps
// between writes.
const maxDeflateBuffer = 64 << 10

// Flush has nothing to do: every write ended in a sync flush.
func (d *Stream) Flush() error { return nil }

// State is what a compressed sleeper keeps of its inflater.
type State struct {
	Window []byte
	CP     inflate.Checkpoint
}

// State returns the inflater's state, ok false unless it is quiet.
func (d *Stream) State() (State, bool) {
	cp, ok := d.zr.Checkpoint()
	if !ok {
		return State{}, false
	}
	return State{d.zr.AppendWindow(nil), cp}, true
}

// Inflate state encodings: the first byte of an ExtDeflateWindow's data.
// The first two (h-compress, never released) held a window taken at a
// block end on a byte boundary; the others hold a Checkpoint first, for
// the bits a partial flush leaves pending. A process that knows only the
// first two refuses the others (ErrState) instead of resuming wrongly.
const (
	windowRaw      = 0 // the window as it is
	windowDeflated = 1 // the window deflated on its own (a final stream)
	stateRaw       = 2 // a checkpoint, then the window as it is
	stateDeflated  = 3 // a checkpoint, then the window deflated on its own
)

// AppendState appends the compact form of a sleeper's inflater state:
// the checkpoint, and the window deflated on its own when that is
// shorter, as it is for the IMAP commands most clients send. It
// deflates into a pooled buffer, so that dst grows once, by what it
// keeps.
func AppendState(dst []byte, s State) []byte {
	z := deflateBufs.Get().(*bytes.Buffer)
	defer putDeflateBuf(z)
	z.WriteByte(stateDeflated)
	var cpb [16]byte
	cp, _ := s.CP.AppendBinary(cpb[:0])
	z.Write(cp)
	head := z.Len()
	if err := flate.StatelessDeflate(z, s.Window, true, nil); err == nil && z.Len()-head < len(s.Window) {
		return append(dst, z.Bytes()...)
	}
	dst = slices.Grow(dst, 1+len(cp)+len(s.Window))
	dst = append(dst, stateRaw)
	dst = append(dst, cp...)
	return append(dst, s.Window...)
}

// deflateBufs lends AppendState and Wire the buffers they deflate into.
var deflateBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putDeflateBuf gives z back to deflateBufs, emptied; one grown past a
// large write's size is dropped instead.
func putDeflateBuf(z *bytes.Buffer) {
	if z.Cap() > maxDeflateBuffer {
		return
	}
	z.Reset()
	deflateBufs.Put(z)
}

// scratch is what decoding a sleeper's input needs for the moment: room
// for its window, decoded from the kept state and then moved on, and for
// the text. Pooled (scratches): a kept window is up to 32 KiB, and read
// with io.ReadAll it cost twice that in garbage on every command a
// compressed sleeper answered.
type scratch struct {
	window [inflate.WindowSize + 1]byte
	text   [maxInflateAsleep + 1]byte
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// readAtMost reads r into buf until end of stream, an error or buf is
// full: io.ReadAll(io.LimitReader(r, len(buf))) into buf.
func readAtMost(r io.Reader, buf []byte) ([]byte, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf[:n], err
		}
	}
	return buf[:n], nil
}

// ErrState says a kept inflater state does not decode.
var ErrState = errors.New("deflate window: corrupt")

// ParseState decodes AppendState's form (and the older window-only one),
// as input from outside.
func ParseState(b []byte) (State, error) {
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	s, err := parseState(b, sc.window[:])
	if err == nil && inflated(b) {
		// Decoded into the scratch, which goes back to the pool.
		s.Window = bytes.Clone(s.Window)
	}
	return s, err
}

// inflated reports whether parseState decodes b's window into its
// buffer (a deflated one) rather than returning part of b.
func inflated(b []byte) bool {
	return len(b) > 0 && (b[0] == stateDeflated || b[0] == windowDeflated)
}

// parseState is ParseState with a deflated window decoded into buf (of
// WindowSize + 1 bytes); a raw one is b's.
func parseState(b, buf []byte) (State, error) {
	var s State
	if len(b) == 0 {
		return s, ErrState
	}
	tag, b := b[0], b[1:]
	switch tag {
	case stateRaw, stateDeflated:
		cp, rest, err := inflate.ParseCheckpoint(b)
		if err != nil {
			return s, fmt.Errorf("%w: %v", ErrState, err)
		}
		s.CP, b = cp, rest
		tag -= stateRaw
	case windowRaw, windowDeflated:
	default:
		return s, ErrState
	}
	if tag == windowRaw {
		if len(b) > inflate.WindowSize {
			return s, ErrState
		}
		s.Window = b
		return s, nil
	}
	zr := inflaters.Get().(*inflate.Reader)
	zr.Reset(bytes.NewReader(b), nil)
	w, err := readAtMost(zr, buf[:inflate.WindowSize+1])
	putInflater(zr)
	if err != nil || len(w) > inflate.WindowSize {
		return s, fmt.Errorf("%w: %v", ErrState, err)
	}
	s.Window = w
	return s, nil
}

// FromExt returns the inflater state st keeps, and whether it is a
// compressed connection's.
func FromExt(st *hibernate.State) (State, bool, error) {
	for _, x := range st.ExtState {
		if x.Kind == hibernate.ExtDeflateWindow {
			s, err := ParseState(x.Data)
			return s, true, err
		}
	}
	return State{}, false, nil
}

// Compressed reports whether st is a compressed connection's.
func Compressed(st *hibernate.State) bool {
	for _, x := range st.ExtState {
		if x.Kind == hibernate.ExtDeflateWindow {
			return true
		}
	}
	return false
}

// SetExt replaces the inflater state st keeps.
func SetExt(st *hibernate.State, s State) {
	for i := range st.ExtState {
		if st.ExtState[i].Kind == hibernate.ExtDeflateWindow {
			st.ExtState[i].Data = AppendState(nil, s)
		}
	}
}

// Wire is p as it goes on the socket of a compressed sleeper: compressed
// on its own, ending in a sync flush (a fresh compressor is always valid
// after a flush, see Stream).
func Wire(p []byte) []byte {
	z := deflateBufs.Get().(*bytes.Buffer)
	defer putDeflateBuf(z)
	if err := flate.StatelessDeflate(z, p, false, nil); err != nil {
		// Writes to a bytes.Buffer do not fail.
		panic(err)
	}
	return bytes.Clone(z.Bytes())
}

// inflaters lends the inflaters that decode what sleepers receive
// (Inflate) and the windows they keep (ParseState): each holds 40 KB of
// buffers (its 32 KiB window, its input) for the moment one input is
// decoded. Allocated afresh for each, they were three quarters of all a
// running fleet of compressed sleepers allocated (docs/benchmarks.md,
// bench/fleet), and made the garbage collector run several times a
// second. A cache of buffers, as fmt's printers are: a Reader put back
// holds nothing of the stream it read (putInflater).
var inflaters = sync.Pool{New: func() any { return new(inflate.Reader) }}

// putInflater gives zr back to inflaters, dropping its source.
func putInflater(zr *inflate.Reader) {
	zr.Reset(nil, nil)
	inflaters.Put(zr)
}

// maxInflateAsleep bounds what a sleeper inflates of its client's bytes:
// a DONE and a new IDLE fit many times over; more is for a full wake.
const maxInflateAsleep = 4 << 10

// Inflate decodes in, a compressed sleeper's input, from the inflater
// state kept asleep: the text and the state after it, or ok false unless
// the inflater is quiet after all of in (the client's flush arrived
// whole), so that the stored state stands where the client's stream
// does. short says in ended inside the flush (its rest may come: the
// sleeper holds what it has, imapserver/hibernate_held.go); text is then
// what came before the cut.
func Inflate(s State, in []byte) (text []byte, next State, ok, short bool) {
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	text, next, ok, short = inflateInto(s, in, sc)
	if ok {
		next.Window = bytes.Clone(next.Window)
	}
	return text, next, ok, short
}

// inflateInto is Inflate with the next window in sc.window, which may
// hold s.Window: the inflater takes that in first.
func inflateInto(s State, in []byte, sc *scratch) (text []byte, next State, ok, short bool) {
	zr := inflaters.Get().(*inflate.Reader)
	defer putInflater(zr)
	if err := zr.ResetResume(bytes.NewReader(in), s.Window, s.CP); err != nil {
		return nil, next, false, false
	}
	text, err := readAtMost(zr, sc.text[:])
	text = bytes.Clone(text)
	if errors.Is(err, io.ErrUnexpectedEOF) && len(text) <= maxInflateAsleep {
		return text, next, false, true
	}
	if err != nil || len(text) > maxInflateAsleep {
		return nil, next, false, false
	}
	if next.CP, ok = zr.Checkpoint(); !ok {
		return nil, next, false, false
	}
	next.Window = zr.AppendWindow(sc.window[:0])
	return text, next, true, false
}

// InflateExt is Inflate for a sleeper's state st, whose inflater state
// it moves on when ok. The windows, before and after, are decoded in a
// pooled scratch: what stays is st's new encoded state.
func InflateExt(st *hibernate.State, in []byte) (text []byte, ok, short bool) {
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	var s State
	var err error
	for _, x := range st.ExtState {
		if x.Kind == hibernate.ExtDeflateWindow {
			s, err = parseState(x.Data, sc.window[:])
		}
	}
	if err != nil {
		return nil, false, false
	}
	text, next, ok, short := inflateInto(s, in, sc)
	if ok {
		SetExt(st, next)
	}
	return text, ok, short
}
