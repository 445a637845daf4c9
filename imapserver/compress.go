package imapserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/klauspost/compress/flate"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapwire"
)

// compressCap is advertised after authentication: RFC 4978 COMPRESS is
// a command of the authenticated and selected states.
const compressCap = " COMPRESS=DEFLATE"

// deflateLevel is the server's compression level: the fastest, since
// responses are short and sent at once (each burst ends in a sync flush,
// which limits what any level can gain).
const deflateLevel = flate.BestSpeed

// windowSize is DEFLATE's history (RFC 1951 2.2): the most a
// compressor may refer back, so the most an inflater must keep.
const windowSize = 32 << 10

// deflateStream is a connection's compression layer after COMPRESS
// DEFLATE (RFC 4978): raw DEFLATE (RFC 1951, no zlib header) both ways,
// between the socket (or TLS) and the session's buffered reader and
// writer.
//
// The inflater returns what it decoded at each sync flush of the client
// (klauspost/compress's default flush mode): a command the client
// flushed is handed to the session at once, without waiting for more
// input (TestCompressFlushedCommandAnsweredAtOnce). Every block end is
// noted (an inflate checkpoint); a connection may hibernate only at one
// that consumed all input read from the socket and whose output the
// session has taken (quiet), and then keeps only the window, the last
// 32 KiB at most of what the client sent, which a new inflater is given
// as its preset dictionary on the wake. The compressor is dropped: a
// fresh one after the wake never refers back past it, and the client's
// inflater keeps its own history, so its stream goes on unbroken.
type deflateStream struct {
	in *inflateInput
	zr io.ReadCloser
	zw *flate.Writer
	// dirty says zw holds output not yet flushed to the socket.
	dirty bool

	// out counts the bytes the inflater gave the session; at is the
	// last block end, and window the history there (the preset
	// dictionary until the first block ends).
	out    int64
	at     flate.InflateCheckpoint
	window []byte
	// overcount corrects the inflater's checkpoints.
	overcount overcount
	// zpos is where in the stream the inflater's next output is: behind
	// out after a restart at the last block end (restart).
	zpos int64
}

// inflateInput is the inflater's byte source: the socket's bytes, through
// raw, and a log of those the inflater took since its last block end,
// which a restart hands out again (replay) before raw's. The log holds
// at most maxRestart bytes: past that (lost) a restart is refused, and
// the log starts again at the next block end that took no byte beyond
// itself.
type inflateInput struct {
	raw    *bufio.Reader
	log    []byte
	logAt  int64 // the stream offset of log[0]
	taken  int64 // the stream offset after the last byte taken
	lost   bool
	replay []byte
}

// ReadByte implements io.ByteReader, which the inflater reads with.
func (r *inflateInput) ReadByte() (byte, error) {
	var b byte
	if len(r.replay) > 0 {
		b, r.replay = r.replay[0], r.replay[1:]
	} else {
		var err error
		if b, err = r.raw.ReadByte(); err != nil {
			return 0, err
		}
	}
	r.took([]byte{b})
	return b, nil
}

func (r *inflateInput) Read(p []byte) (int, error) {
	var n int
	var err error
	if len(r.replay) > 0 {
		n = copy(p, r.replay)
		r.replay = r.replay[n:]
	} else {
		n, err = r.raw.Read(p)
	}
	r.took(p[:n])
	return n, err
}

// took logs p, taken by the inflater.
func (r *inflateInput) took(p []byte) {
	r.taken += int64(len(p))
	if r.lost {
		return
	}
	r.log = append(r.log, p...)
	if len(r.log) > maxRestart {
		r.log, r.lost = nil, true
	}
}

// consumed is the stream offset after the last byte the inflater took.
func (r *inflateInput) consumed() int64 { return r.taken }

// newDeflateStream starts compression over in (the socket's input,
// after any bytes already read) and out, the inflater with history dict
// (nil at COMPRESS; the window kept asleep on a wake).
func newDeflateStream(in io.Reader, out io.Writer, dict []byte) *deflateStream {
	d := &deflateStream{in: &inflateInput{raw: bufio.NewReader(in)}, window: dict}
	d.zr = flate.NewReaderOpts(d.in, flate.WithDict(dict), flate.WithEobCallback(d.blockEnd))
	zw, err := flate.NewWriter(out, deflateLevel)
	if err != nil {
		panic(err) // only for a level out of range, a constant here
	}
	d.zw = zw
	return d
}

// blockEnd notes the inflater's checkpoint at the end of each block and
// forgets the input before it.
func (d *deflateStream) blockEnd(cp flate.InflateCheckpoint) {
	d.window = append(d.window[:0], cp.Window...)
	cp.Window = nil
	cp.CompressedOffset = d.overcount.correct(cp, d.in.consumed())
	d.at = cp
	in := d.in
	switch drop := cp.CompressedOffset - in.logAt; {
	case in.lost:
		if cp.CompressedOffset == in.taken && cp.BitOffset == 0 {
			in.lost, in.logAt = false, in.taken
		}
	case drop > 0:
		in.log = append(in.log[:0], in.log[drop:]...)
		in.logAt = cp.CompressedOffset
	}
}

// overcount corrects the compressed offsets of klauspost/compress's
// inflate checkpoints (v1.20.4): a stored block that starts while whole
// bytes wait in the inflater's bit buffer counts them a second time
// (dataBlock adds them to roffset, which counted them when they were
// read), so every later offset is too high by that many bytes. The
// excess changes only there, and a stored block ends with an empty bit
// buffer, where the true offset is what the inflater has read; at any
// other block end the true offset is at most that. So the excess is the
// largest overshoot seen so far, in whole bytes. FuzzDeflateStream
// checks the offsets against the input.
type overcount int64

// correct returns the true compressed offset of cp, at whose block end
// the inflater has read consumed bytes.
func (o *overcount) correct(cp flate.InflateCheckpoint, consumed int64) int64 {
	if over := cp.CompressedOffset*8 + int64(cp.BitOffset) - consumed*8; over > int64(*o)*8 {
		*o = overcount((over + 7) / 8)
	}
	return cp.CompressedOffset - int64(*o)
}

// Read gives the session the client's decompressed input.
//
// The inflater's errors stick, but a read deadline is no end of the
// stream here: it is how an IDLE wakes for a keepalive, a change or
// hibernation. At a quiet block end the deadline is met before the
// inflater reads; in the middle of a block (the client's flush has not
// all arrived) the inflater is restarted at the last block end, with
// the input it took since then handed out again and the output the
// session already has skipped.
func (d *deflateStream) Read(p []byte) (int, error) {
	if d.quiet() && len(d.in.replay) == 0 && d.in.raw.Buffered() == 0 {
		if _, err := d.in.raw.Peek(1); err != nil {
			return 0, err
		}
	}
	for {
		n, err := d.zr.Read(p)
		from := d.zpos
		d.zpos += int64(n)
		if from < d.out {
			// Output the session has (the inflater restarted).
			k := min(d.out-from, int64(n))
			n = copy(p, p[k:n])
		}
		d.out += int64(n)
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() {
			if rerr := d.restart(); rerr != nil {
				err = rerr
			}
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// maxRestart bounds what a restart takes again: the input since the
// last block end, and the output to decode again and skip. A client's
// flush in IDLE is a few bytes; a block this large across a read
// deadline is an attempt to make the server decode it again and again
// (every deadline of an IDLE: keepalives, mailbox changes).
const maxRestart = 256 << 10

// errRestart ends a connection whose inflater cannot restart (maxRestart).
var errRestart = errors.New("deflate: block too large to resume after a read deadline")

// restart replaces an inflater stopped by a read deadline with one that
// starts at the last block end (Read).
func (d *deflateStream) restart() error {
	in := d.in
	if in.lost || len(in.log)+len(in.replay) > maxRestart || d.out-d.at.UncompressedOffset > maxRestart {
		d.zr = errReader{errRestart}
		return errRestart
	}
	in.replay = append(bytes.Clone(in.log), in.replay...)
	in.log = in.log[:0]
	in.taken = in.logAt
	d.zpos = d.at.UncompressedOffset
	d.overcount = 0 // the new inflater starts at a true offset
	cp := d.at
	cp.Window = d.window
	d.zr = flate.NewReaderOpts(in, flate.WithResumeFrom(cp), flate.WithEobCallback(d.blockEnd))
	return nil
}

// errReader is an inflater that failed for good.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
func (r errReader) Close() error             { return r.err }

// Write compresses the session's output.
func (d *deflateStream) Write(p []byte) (int, error) {
	if len(p) > 0 {
		d.dirty = true
	}
	return d.zw.Write(p)
}

// Flush sends what was written with a sync flush, so that the client's
// inflater can decode all of it now; nothing when nothing was written.
func (d *deflateStream) Flush() error {
	if !d.dirty {
		return nil
	}
	d.dirty = false
	if err := d.zw.Flush(); err != nil {
		return fmt.Errorf("deflate: %w", err)
	}
	return nil
}

// quiet reports whether the inflater stands at a block end on a byte
// boundary, with every byte read from the socket consumed and every
// byte decoded taken by the session: a new inflater with the window as
// its dictionary then reads the rest of the stream exactly as this one
// would.
func (d *deflateStream) quiet() bool {
	return d.in.raw.Buffered() == 0 && len(d.in.replay) == 0 && d.in.consumed() == d.at.CompressedOffset &&
		d.at.BitOffset == 0 && d.out == d.at.UncompressedOffset && d.zpos == d.out && !d.at.Final
}

// Window encodings (the first byte of an ExtDeflateWindow's data).
const (
	windowRaw      = 0 // the window as it is
	windowDeflated = 1 // the window deflated on its own (a final stream)
)

// appendWindow appends the compact form of the window: deflated on its
// own when that is shorter, as it is for the IMAP commands most
// clients send.
func appendWindow(dst, window []byte) []byte {
	var z bytes.Buffer
	z.WriteByte(windowDeflated)
	if err := flate.StatelessDeflate(&z, window, true, nil); err == nil && z.Len() < 1+len(window) {
		return append(dst, z.Bytes()...)
	}
	return append(append(dst, windowRaw), window...)
}

// errWindow says a kept window does not decode.
var errWindow = errors.New("deflate window: corrupt")

// parseWindow decodes appendWindow's form.
func parseWindow(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errWindow
	}
	switch b[0] {
	case windowRaw:
		if len(b)-1 > windowSize {
			return nil, errWindow
		}
		return b[1:], nil
	case windowDeflated:
		zr := flate.NewReader(bytes.NewReader(b[1:]))
		w, err := io.ReadAll(io.LimitReader(zr, windowSize+1))
		if err != nil || len(w) > windowSize {
			return nil, fmt.Errorf("%w: %v", errWindow, err)
		}
		return w, nil
	}
	return nil, errWindow
}

// deflateWindow returns the window st keeps, and whether it is a
// compressed connection's.
func deflateWindow(st *hibernate.State) ([]byte, bool, error) {
	for _, x := range st.ExtState {
		if x.Kind == hibernate.ExtDeflateWindow {
			w, err := parseWindow(x.Data)
			return w, true, err
		}
	}
	return nil, false, nil
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

// exportDeflate adds the inflate window to st, the state of a session
// about to hibernate; a connection not at a quiet block end stays
// awake (reason "deflate_pending"): a client that has not flushed what
// it sent, or whose last flush the inflater has not reached.
func (c *conn) exportDeflate(st *hibernate.State) error {
	if c.z == nil {
		return nil
	}
	if !c.z.quiet() {
		return errNotExportable("deflate_pending")
	}
	st.ExtState = append(st.ExtState, hibernate.ExtState{
		Kind: hibernate.ExtDeflateWindow,
		Data: appendWindow(nil, c.z.window),
	})
	return nil
}

// startDeflate puts the compression layer on the connection: after
// COMPRESS (dict nil), or on the wake of a compressed sleeper (dict its
// window). in is input already read from the socket, compressed.
func (c *conn) startDeflate(in []byte, dict []byte) {
	m := c.srv.cfg.Metrics
	var src io.Reader = countingReader{c.nc, m}
	if len(in) > 0 {
		src = io.MultiReader(bytes.NewReader(in), src)
	}
	c.z = newDeflateStream(src, countingWriter{c.nc, m}, dict)
	c.setStreams(c.z, c.z)
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
	c.startDeflate(in, nil)
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

// inflateAsleep decodes in, a compressed sleeper's input, with the
// window kept asleep, for answerAsleep: the text and the window after
// it, or ok false unless in ends exactly at a flushed block end (the
// client's flush arrived whole), so that the stored state, with the
// new window, stands where the client's stream does.
func inflateAsleep(window, in []byte) (text, next []byte, ok bool) {
	var at flate.InflateCheckpoint
	var over overcount
	ended := false
	r := bytes.NewReader(in)
	zr := flate.NewReaderOpts(r, flate.WithDict(window), flate.WithEobCallback(func(cp flate.InflateCheckpoint) {
		cp.CompressedOffset = over.correct(cp, int64(len(in)-r.Len()))
		at, ended = cp, true
		next = append(next[:0], cp.Window...)
	}))
	text, _ = io.ReadAll(io.LimitReader(zr, maxInflateAsleep+1))
	ok = ended && at.CompressedOffset == int64(len(in)) && at.BitOffset == 0 && !at.Final &&
		at.UncompressedOffset == int64(len(text)) && len(text) <= maxInflateAsleep
	return text, next, ok
}

// setDeflateWindow replaces the window st keeps.
func setDeflateWindow(st *hibernate.State, window []byte) {
	for i := range st.ExtState {
		if st.ExtState[i].Kind == hibernate.ExtDeflateWindow {
			st.ExtState[i].Data = appendWindow(nil, window)
		}
	}
}

// inflateSleeper is inflateAsleep for a sleeper's state st, whose window
// it moves on when ok.
func inflateSleeper(st *hibernate.State, in []byte) ([]byte, bool) {
	window, _, err := deflateWindow(st)
	if err != nil {
		return nil, false
	}
	text, next, ok := inflateAsleep(window, in)
	if ok {
		setDeflateWindow(st, next)
	}
	return text, ok
}
