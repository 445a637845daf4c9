package imapmsg

import (
	"bufio"
	"io"
	"mime/quotedprintable"
	"strings"
)

// decodeBufSize is the read buffer for decoding a part's body.
const decodeBufSize = 32 << 10

// bufSizeFor is the read buffer for decoding n bytes: decodeBufSize, or
// less for a smaller body. Most mail bodies are a few KiB; a search
// decoding every message of a mailbox spent half its time allocating
// and clearing 32 KiB buffers for them.
func bufSizeFor(n int64) int {
	return int(min(max(n+16, 64), decodeBufSize))
}

// cteDecoder returns a reader decoding r from the content transfer
// encoding cte (RFC 2045 6). identity is true for 7bit, 8bit and binary,
// which pass through; an unknown encoding gives ErrUnknownCTE.
// bufSize sizes the decoder's buffers (bufSizeFor).
func cteDecoder(cte string, r io.Reader, bufSize int) (dec io.Reader, identity bool, err error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return r, true, nil
	case "base64":
		return newBase64Reader(r, bufSize), false, nil
	case "quoted-printable":
		return quotedprintable.NewReader(bufio.NewReaderSize(r, bufSize)), false, nil
	}
	return nil, false, ErrUnknownCTE
}

// base64Reader decodes base64 (RFC 2045 6.8) leniently, as mail readers
// must: characters outside the alphabet (line ends, garbage) are skipped
// and padding ends a quantum, so concatenated encodings decode too.
// encoding/base64 stops at the first such character.
type base64Reader struct {
	r    io.Reader
	in   []byte
	out  []byte // decoded bytes not yet returned
	obuf []byte
	q    [4]byte
	nq   int
	err  error
}

func newBase64Reader(r io.Reader, bufSize int) *base64Reader {
	return &base64Reader{r: r, in: make([]byte, bufSize), obuf: make([]byte, 0, bufSize/4*3+3)}
}

func (d *base64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		n, err := d.r.Read(d.in)
		out := d.obuf[:0]
		for _, c := range d.in[:n] {
			v := b64Value(c)
			if v < 0 {
				if c == '=' {
					out = d.flush(out)
				}
				continue
			}
			d.q[d.nq] = byte(v)
			d.nq++
			if d.nq == 4 {
				out = append(out, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2, d.q[2]<<6|d.q[3])
				d.nq = 0
			}
		}
		if err != nil {
			out = d.flush(out)
			d.err = err
		}
		d.out = out
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// flush emits the bytes of a partial quantum (2 or 3 sextets).
func (d *base64Reader) flush(out []byte) []byte {
	switch d.nq {
	case 2:
		out = append(out, d.q[0]<<2|d.q[1]>>4)
	case 3:
		out = append(out, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2)
	}
	d.nq = 0
	return out
}

func b64Value(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}
