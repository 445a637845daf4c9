package imapserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/flate"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/internal/inflate"
)

// compressCap is advertised after authentication: RFC 4978 COMPRESS is
// a command of the authenticated and selected states.
const compressCap = " COMPRESS=DEFLATE"

// deflateDict is how much of what it sent the compressor refers back
// to: the most klauspost/compress's StatelessDeflate takes as its
// dictionary. Its stateful Writer (828 KB allocated at BestSpeed, for a
// 32 KiB history) would cost an awake compressed session twenty times
// its inflater; responses gain little from more history, as each burst
// ends in a sync flush anyway.
const deflateDict = 8 << 10

// deflateStream is a connection's compression layer after COMPRESS
// DEFLATE (RFC 4978): raw DEFLATE (RFC 1951, no zlib header) both ways,
// between the socket (or TLS) and the session's buffered reader and
// writer.
//
// The inflater (internal/inflate) returns what it decoded at every block
// end, so a command the client flushed is handed to the session at once
// whether it flushed with Z_SYNC_FLUSH, Z_FULL_FLUSH or Z_PARTIAL_FLUSH
// (isync's mbsync), without waiting for more input
// (TestCompressFlushedCommandAnsweredAtOnce). It keeps its state when
// the input runs out mid-step, so a read deadline (an IDLE's keepalive,
// a change, hibernation) never breaks the stream. A connection may
// hibernate when the inflater is quiet (it waits for input at a block
// header or between a fixed block's symbols, everything it decoded
// taken by the session) and then keeps only the window, the last 32 KiB
// at most of what the client sent, and the few input bits the inflater
// could not use yet (the start of a partial flush's empty block); a new
// inflater resumes from them on the wake. The compressor is dropped: a
// fresh one after the wake never refers back past it, and the client's
// inflater keeps its own history, so its stream goes on unbroken.
//
// Each write of the session's buffered writer is compressed on its own
// (StatelessDeflate) with the last deflateDict bytes sent as its
// dictionary, and ends in a sync flush: the client can decode all of it
// at once, and nothing waits in a compressor.
type deflateStream struct {
	zr  *inflate.Reader
	out io.Writer
	// sent is the end of what was compressed, the next write's
	// dictionary; z holds a write's compressed form.
	sent []byte
	z    bytes.Buffer
}

// newDeflateStream starts compression over in (the socket's input,
// after any bytes already read) and out, the inflater resuming from
// state (zero at COMPRESS; what a sleeper kept on a wake).
func newDeflateStream(in io.Reader, out io.Writer, state inflateState) *deflateStream {
	zr, err := inflate.Resume(in, state.window, state.cp)
	if err != nil {
		panic(err) // state was checked when it was decoded (parseInflateState)
	}
	return &deflateStream{zr: zr, out: out}
}

// Read gives the session the client's decompressed input. Corrupt input
// ends the connection (no BYE can be sent in the middle of a compressed
// stream); a read deadline's error leaves the stream readable.
func (d *deflateStream) Read(p []byte) (int, error) {
	return d.zr.Read(p)
}

// Write compresses p on its own, with what was sent before as its
// dictionary, ending in a sync flush, and sends it.
func (d *deflateStream) Write(p []byte) (int, error) {
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
func (d *deflateStream) Flush() error { return nil }

// inflateState is what a compressed sleeper keeps of its inflater.
type inflateState struct {
	window []byte
	cp     inflate.Checkpoint
}

// state returns the inflater's state, ok false unless it is quiet.
func (d *deflateStream) state() (inflateState, bool) {
	cp, ok := d.zr.Checkpoint()
	if !ok {
		return inflateState{}, false
	}
	return inflateState{d.zr.AppendWindow(nil), cp}, true
}

// Inflate state encodings: the first byte of an ExtDeflateWindow's data.
// The first two (h-compress, never released) held a window taken at a
// block end on a byte boundary; the others hold a Checkpoint first, for
// the bits a partial flush leaves pending. A process that knows only the
// first two refuses the others (errWindow) instead of resuming wrongly.
const (
	windowRaw      = 0 // the window as it is
	windowDeflated = 1 // the window deflated on its own (a final stream)
	stateRaw       = 2 // a checkpoint, then the window as it is
	stateDeflated  = 3 // a checkpoint, then the window deflated on its own
)

// appendInflateState appends the compact form of a sleeper's inflater
// state: the checkpoint, and the window deflated on its own when that is
// shorter, as it is for the IMAP commands most clients send.
func appendInflateState(dst []byte, s inflateState) []byte {
	var z bytes.Buffer
	z.WriteByte(stateDeflated)
	cp, _ := s.cp.AppendBinary(nil)
	z.Write(cp)
	head := z.Len()
	if err := flate.StatelessDeflate(&z, s.window, true, nil); err == nil && z.Len()-head < len(s.window) {
		return append(dst, z.Bytes()...)
	}
	dst = append(dst, stateRaw)
	dst = append(dst, cp...)
	return append(dst, s.window...)
}

// errWindow says a kept inflater state does not decode.
var errWindow = errors.New("deflate window: corrupt")

// parseInflateState decodes appendInflateState's form (and the older
// window-only one).
func parseInflateState(b []byte) (inflateState, error) {
	var s inflateState
	if len(b) == 0 {
		return s, errWindow
	}
	tag, b := b[0], b[1:]
	switch tag {
	case stateRaw, stateDeflated:
		cp, rest, err := inflate.ParseCheckpoint(b)
		if err != nil {
			return s, fmt.Errorf("%w: %v", errWindow, err)
		}
		s.cp, b = cp, rest
		tag -= stateRaw
	case windowRaw, windowDeflated:
	default:
		return s, errWindow
	}
	if tag == windowRaw {
		if len(b) > inflate.WindowSize {
			return s, errWindow
		}
		s.window = b
		return s, nil
	}
	w, err := io.ReadAll(io.LimitReader(inflate.NewReader(bytes.NewReader(b), nil), inflate.WindowSize+1))
	if err != nil || len(w) > inflate.WindowSize {
		return s, fmt.Errorf("%w: %v", errWindow, err)
	}
	s.window = w
	return s, nil
}

// deflateState returns the inflater state st keeps, and whether it is a
// compressed connection's.
func deflateState(st *hibernate.State) (inflateState, bool, error) {
	for _, x := range st.ExtState {
		if x.Kind == hibernate.ExtDeflateWindow {
			s, err := parseInflateState(x.Data)
			return s, true, err
		}
	}
	return inflateState{}, false, nil
}

// compressed reports whether st is a compressed connection's.
func compressed(st *hibernate.State) bool {
	for _, x := range st.ExtState {
		if x.Kind == hibernate.ExtDeflateWindow {
			return true
		}
	}
	return false
}

// exportDeflate adds the inflater's state to st, the state of a session
// about to hibernate; a connection whose inflater is not quiet stays
// awake (reason "deflate_pending"): a client that has not flushed what
// it sent.
func (c *conn) exportDeflate(st *hibernate.State) error {
	if c.z == nil {
		return nil
	}
	s, ok := c.z.state()
	if !ok {
		return errNotExportable("deflate_pending")
	}
	st.ExtState = append(st.ExtState, hibernate.ExtState{
		Kind: hibernate.ExtDeflateWindow,
		Data: appendInflateState(nil, s),
	})
	return nil
}

// startDeflate puts the compression layer on the connection: after
// COMPRESS (state zero), or on the wake of a compressed sleeper (the
// inflater state it kept). in is input already read from the socket,
// compressed; text, input the session reads before all of it, decoded
// already (a command its sleeper decoded).
func (c *conn) startDeflate(in []byte, state inflateState, text []byte) {
	m := c.srv.cfg.Metrics
	var src io.Reader = countingReader{c.nc, m}
	if len(in) > 0 {
		src = io.MultiReader(bytes.NewReader(in), src)
	}
	c.z = newDeflateStream(src, countingWriter{c.nc, m}, state)
	var r io.Reader = c.z
	if len(text) > 0 {
		r = io.MultiReader(bytes.NewReader(text), c.z)
	}
	c.setStreams(r, c.z)
}

// handleCompress serves RFC 4978 COMPRESS: after its tagged OK (sent
// uncompressed) both directions are raw DEFLATE.
func handleCompress(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.CompressArgs)
	if a == nil || a.Mechanism != "DEFLATE" {
		return errBAD("", "Unknown compression mechanism")
	}
	if c.z != nil {
		// RFC 4978 3.
		return errNO("COMPRESSIONACTIVE", "DEFLATE active already")
	}
	c.w.Raw(cmd.Tag).Raw(" OK DEFLATE active").CRLF()
	if err := c.flush(); err != nil {
		return &byeError{text: "write failed", err: err}
	}
	// Bytes the client sent after COMPRESS are compressed already.
	var in []byte
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		in = bytes.Clone(b)
	}
	c.startDeflate(in, inflateState{}, nil)
	return errTaggedDone
}

// transportLabel names a connection's transport for metrics: t (plain,
// tls13 or tls12, connTransport), with "+compressed" (or just
// compressed) after COMPRESS DEFLATE.
func transportLabel(t string, deflate bool) string {
	switch {
	case !deflate:
		return t
	case t == "plain":
		return "compressed"
	}
	return t + "+compressed"
}

// wire is p as it goes on the socket of a sleeper: compressed on its
// own, ending in a sync flush, for a compressed connection (a fresh
// compressor is always valid after a flush, see deflateStream).
func (s sleeper) wire(p []byte) []byte {
	if !s.deflate {
		return p
	}
	var z bytes.Buffer
	if err := flate.StatelessDeflate(&z, p, false, nil); err != nil {
		// Writes to a bytes.Buffer do not fail.
		panic(err)
	}
	return z.Bytes()
}

// maxInflateAsleep bounds what a sleeper inflates of its client's bytes:
// a DONE and a new IDLE fit many times over; more is for a full wake.
const maxInflateAsleep = 4 << 10

// inflateAsleep decodes in, a compressed sleeper's input, from the
// inflater state kept asleep, for answerAsleep: the text and the state
// after it, or ok false unless the inflater is quiet after all of in
// (the client's flush arrived whole), so that the stored state stands
// where the client's stream does. short says in ended inside the flush
// (its rest may come: hibernate_held.go); text is then what came before
// the cut.
func inflateAsleep(s inflateState, in []byte) (text []byte, next inflateState, ok, short bool) {
	zr, err := inflate.Resume(bytes.NewReader(in), s.window, s.cp)
	if err != nil {
		return nil, next, false, false
	}
	text, err = io.ReadAll(io.LimitReader(zr, maxInflateAsleep+1))
	if errors.Is(err, io.ErrUnexpectedEOF) && len(text) <= maxInflateAsleep {
		return text, next, false, true
	}
	if err != nil || len(text) > maxInflateAsleep {
		return nil, next, false, false
	}
	if next.cp, ok = zr.Checkpoint(); !ok {
		return nil, next, false, false
	}
	next.window = zr.AppendWindow(nil)
	return text, next, true, false
}

// setDeflateState replaces the inflater state st keeps.
func setDeflateState(st *hibernate.State, s inflateState) {
	for i := range st.ExtState {
		if st.ExtState[i].Kind == hibernate.ExtDeflateWindow {
			st.ExtState[i].Data = appendInflateState(nil, s)
		}
	}
}

// inflateSleeper is inflateAsleep for a sleeper's state st, whose
// inflater state it moves on when ok.
func inflateSleeper(st *hibernate.State, in []byte) (text []byte, ok, short bool) {
	s, _, err := deflateState(st)
	if err != nil {
		return nil, false, false
	}
	text, next, ok, short := inflateAsleep(s, in)
	if ok {
		setDeflateState(st, next)
	}
	return text, ok, short
}
