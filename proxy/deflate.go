package proxy

import (
	"bytes"
	"io"

	"github.com/dormouse/dormouse/internal/imapdeflate"
)

// The proxy ends COMPRESS DEFLATE with the server's own layer; the hop
// stays uncompressed.
type (
	deflateLayer = imapdeflate.Stream
	inflateState = imapdeflate.State
)

var (
	appendInflateState = imapdeflate.AppendState
	parseInflateState  = imapdeflate.ParseState
	inflateAsleep      = imapdeflate.Inflate
	deflateWire        = imapdeflate.Wire
)

// compress answers COMPRESS (RFC 4978) at the proxy and puts the layer
// on the client's connection; the client direction (up) calls it, so
// the reader is its own to replace.
func (c *client) compress(tag string, line []byte, st *relayState) error {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if !bytes.EqualFold(bytes.TrimRight(line, "\r\n"), []byte(tag+" COMPRESS DEFLATE")) {
		return c.say(tag + " BAD Unknown compression mechanism")
	}
	if c.z != nil {
		return c.say(tag + " NO [COMPRESSIONACTIVE] DEFLATE active already")
	}
	if err := c.say(tag + " OK DEFLATE active"); err != nil {
		return err
	}
	// Bytes the client sent after COMPRESS are compressed already.
	var in []byte
	if n := c.in.r.Buffered(); n > 0 {
		b, _ := c.in.r.Peek(n)
		in = bytes.Clone(b)
	}
	var src io.Reader = c.top
	if len(in) > 0 {
		src = io.MultiReader(bytes.NewReader(in), c.top)
	}
	c.z = imapdeflate.NewStream(src, c.top, inflateState{})
	c.setStreams(c.z, c.z)
	return nil
}
