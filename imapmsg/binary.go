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
// so it costs a pass over the part but no memory beyond buffers. A part
// that does not exist gives an empty reader and size 0, like Section; an
// encoding that cannot be decoded gives ErrUnknownCTE (the server answers
// NO [UNKNOWN-CTE]).
func (m *Message) Binary(path []int) (io.Reader, int64, error) {
	if len(path) == 0 {
		return io.NewSectionReader(m.r, 0, m.size), m.size, nil
	}
	root, err := m.structure()
	if err != nil {
		return nil, 0, err
	}
	p := findPart(root, path)
	if p == nil {
		return bytes.NewReader(nil), 0, nil
	}
	body := m.span(p.bodyStart, p.end)
	size := bufSizeFor(p.end - p.bodyStart)
	dec, identity, err := cteDecoder(p.cte, bufio.NewReaderSize(body, size), size)
	if err != nil {
		return nil, 0, err
	}
	if identity {
		return body, body.Size(), nil
	}
	n, err := io.Copy(io.Discard, dec)
	if err != nil {
		return nil, 0, fmt.Errorf("imapmsg: decoding part %v: %w", path, err)
	}
	dec, _, _ = cteDecoder(p.cte, bufio.NewReaderSize(m.span(p.bodyStart, p.end), size), size)
	return dec, n, nil
}
