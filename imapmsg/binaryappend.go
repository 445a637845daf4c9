package imapmsg

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
)

// StoreBinary returns the message read from r (size bytes) as Dovecot
// stores a message APPENDed as a literal8 (RFC 3516 4.4): every part
// that is not a multipart and whose Content-Transfer-Encoding is
// "binary" gets "base64" instead, its body encoded in lines of 76
// characters. Its octets (NULs too) come back decoded through
// BINARY[part], and BODY[part] and the whole message stay text that
// any client can take as a literal. converted is false when the
// message has no such part; out is then nil and the message is to be
// stored as it is. The output is streamed from r, not held in memory.
func StoreBinary(r io.ReaderAt, size int64) (out io.Reader, converted bool, err error) {
	m, err := Parse(r, size)
	if err != nil {
		return nil, false, err
	}
	root, err := m.structure()
	if err != nil {
		return nil, false, err
	}
	var pieces []io.Reader
	pos := int64(0)
	var walk func(p *part) error
	walk = func(p *part) error {
		if len(p.children) > 0 || p.isMultipart() {
			for _, c := range p.children {
				if err := walk(c); err != nil {
					return err
				}
			}
			return nil
		}
		if p.isMessage() {
			// An encapsulated message is looked into, not encoded.
			if p.msg != nil {
				return walk(p.msg)
			}
			return nil
		}
		if !strings.EqualFold(strings.TrimSpace(p.cte), "binary") {
			return nil
		}
		if p.bodyStart-p.start > maxHeaderBytes {
			return nil // a header too big to rewrite: kept as it is
		}
		h, err := m.readHeader(p)
		if err != nil {
			return err
		}
		header, ok := withBase64CTE(h)
		if !ok {
			return nil
		}
		pieces = append(pieces, io.NewSectionReader(r, pos, p.start-pos), bytes.NewReader(header),
			newBase64Lines(io.NewSectionReader(r, p.bodyStart, p.end-p.bodyStart), lineEnd(header)))
		pos = p.end
		return nil
	}
	if err := walk(root); err != nil {
		return nil, false, err
	}
	if len(pieces) == 0 {
		return nil, false, nil
	}
	pieces = append(pieces, io.NewSectionReader(r, pos, size-pos))
	return io.MultiReader(pieces...), true, nil
}

// withBase64CTE returns header h with its Content-Transfer-Encoding
// field made "base64", in the field's place and with its line end; ok is
// false when h has no such field.
func withBase64CTE(h []byte) (out []byte, ok bool) {
	eachField(h, func(name, _, raw []byte) bool {
		if !bytes.EqualFold(name, []byte("Content-Transfer-Encoding")) {
			return true
		}
		off := cap(h) - cap(raw) // raw is a slice of h
		end := "\r\n"
		if !bytes.HasSuffix(raw, []byte("\r\n")) {
			end = "\n"
		}
		out = append(out, h[:off]...)
		out = append(out, "Content-Transfer-Encoding: base64"+end...)
		out = append(out, h[off+len(raw):]...)
		ok = true
		return false
	})
	return out, ok
}

// lineEnd returns the line end a header uses: CRLF unless its lines end
// with a bare LF.
func lineEnd(h []byte) string {
	if i := bytes.IndexByte(h, '\n'); i > 0 && h[i-1] != '\r' {
		return "\n"
	}
	return "\r\n"
}

// base64Lines reads r encoded in base64, 76 characters a line, lines
// separated (not ended) by eol: a part's body, whose last line end is
// the one before the next boundary.
type base64Lines struct {
	r       io.Reader
	eol     string
	in      [57]byte // 57 octets make a 76-character line
	buf     []byte
	pending []byte // of buf, not read yet
	done    bool
	lines   int
}

func newBase64Lines(r io.Reader, eol string) *base64Lines {
	return &base64Lines{r: r, eol: eol}
}

func (b *base64Lines) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		if b.done {
			return 0, io.EOF
		}
		n, err := io.ReadFull(b.r, b.in[:])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			b.done, err = true, nil
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			continue
		}
		b.buf = b.buf[:0]
		if b.lines > 0 {
			b.buf = append(b.buf, b.eol...)
		}
		b.buf = base64.StdEncoding.AppendEncode(b.buf, b.in[:n])
		b.pending = b.buf
		b.lines++
	}
	k := copy(p, b.pending)
	b.pending = b.pending[k:]
	return k, nil
}
