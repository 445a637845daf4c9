package imapmsg

import (
	"bufio"
	"io"
	"mime/quotedprintable"
	"strings"
)

// decodeBufSize is the read buffer for decoding a part's body.
const decodeBufSize = 32 << 10

// cteDecoder returns a reader decoding r from the content transfer
// encoding cte (RFC 2045 6). identity is true for 7bit, 8bit and binary,
// which pass through; an unknown encoding gives ErrUnknownCTE.
func cteDecoder(cte string, r io.Reader) (dec io.Reader, identity bool, err error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return r, true, nil
	case "base64":
		return newBase64Reader(r), false, nil
	case "quoted-printable":
		return quotedprintable.NewReader(bufio.NewReaderSize(r, decodeBufSize)), false, nil
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

func newBase64Reader(r io.Reader) *base64Reader {
	return &base64Reader{r: r, in: make([]byte, decodeBufSize), obuf: make([]byte, 0, decodeBufSize/4*3+3)}
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
