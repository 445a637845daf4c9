package imapserver

import (
	"bytes"
	"io"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/internal/imapdeflate"
)

// compressCap is advertised after authentication: RFC 4978 COMPRESS is
// a command of the authenticated and selected states.
const compressCap = " COMPRESS=DEFLATE"

// The compression layer, the inflater state a compressed sleeper keeps
// and its decoding asleep are internal/imapdeflate's, shared with the
// proxy; these names keep the server's code as it reads.
type (
	deflateStream = imapdeflate.Stream
	inflateState  = imapdeflate.State
)

// newDeflateStream starts compression over in and out (imapdeflate.NewStream).
func newDeflateStream(in io.Reader, out io.Writer, state inflateState) *deflateStream {
	return imapdeflate.NewStream(in, out, state)
}

// deflateState returns the inflater state st keeps, and whether it is a
// compressed connection's.
func deflateState(st *hibernate.State) (inflateState, bool, error) { return imapdeflate.FromExt(st) }

// compressed reports whether st is a compressed connection's.
func compressed(st *hibernate.State) bool { return imapdeflate.Compressed(st) }

// exportDeflate adds the inflater's state to st, the state of a session
// about to hibernate; a connection whose inflater is not quiet stays
// awake (reason "deflate_pending"): a client that has not flushed what
// it sent.
func (c *conn) exportDeflate(st *hibernate.State) error {
	if c.z == nil {
		return nil
	}
	s, ok := c.z.State()
	if !ok {
		return errNotExportable("deflate_pending")
	}
	st.ExtState = append(st.ExtState, hibernate.ExtState{
		Kind: hibernate.ExtDeflateWindow,
		Data: imapdeflate.AppendState(nil, s),
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
	var src io.Reader = countingReader{r: c.nc, m: m}
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
// own for a compressed connection (imapdeflate.Wire).
func (s sleeper) wire(p []byte) []byte {
	if !s.deflate {
		return p
	}
	return imapdeflate.Wire(p)
}

// inflateSleeper decodes a compressed sleeper's input from the state st
// keeps, which it moves on when ok; short says the input ended inside the
// client's flush (imapdeflate.InflateExt).
func inflateSleeper(st *hibernate.State, in []byte) (text []byte, ok, short bool) {
	return imapdeflate.InflateExt(st, in)
}
