package imapmsg

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// Binary returns the decoded content of a part for BINARY[part] and its
// decoded size for BINARY.SIZE (RFC 3516). The empty path is the whole
// message, undecoded. The size comes from a streaming decode of the part,
// so it costs a pass over the part but no memory beyond buffers. hasNUL
// says whether the decoded content holds a NUL octet: only then must it
// be sent as a literal8 (RFC 9051 7.5.2 BINARY: data without NUL
// SHOULD be a string, as Dovecot sends it). A part that does not exist
// gives an empty reader and size 0, like Section; an encoding that
// cannot be decoded gives ErrUnknownCTE (the server answers NO
// [UNKNOWN-CTE]).
func (m *Message) Binary(path []int) (r io.Reader, size int64, hasNUL bool, err error) {
	var body *io.SectionReader
	cte := ""
	if len(path) == 0 {
		body = io.NewSectionReader(m.r, 0, m.size)
	} else {
		root, err := m.structure()
		if err != nil {
			return nil, 0, false, err
		}
		p := findPart(root, path)
		if p == nil {
			return bytes.NewReader(nil), 0, false, nil
		}
		body, cte = m.span(p.bodyStart, p.end), p.cte
	}
	bufSize := bufSizeFor(body.Size())
	dec, identity, err := cteDecoder(cte, bufio.NewReaderSize(body, bufSize), bufSize)
	if err != nil {
		return nil, 0, false, err
	}
	var nul nulFinder
	n, err := io.Copy(&nul, dec)
	if err != nil {
		return nil, 0, false, fmt.Errorf("imapmsg: decoding part %v: %w", path, err)
	}
	if identity {
		return io.NewSectionReader(body, 0, body.Size()), body.Size(), nul.found, nil
	}
	dec, _, _ = cteDecoder(cte, bufio.NewReaderSize(io.NewSectionReader(body, 0, body.Size()), bufSize), bufSize)
	return dec, n, nul.found, nil
}

// nulFinder is a writer that notes whether a NUL octet went through it.
type nulFinder struct{ found bool }

func (f *nulFinder) Write(p []byte) (int, error) {
	f.found = f.found || bytes.IndexByte(p, 0) >= 0
	return len(p), nil
}
