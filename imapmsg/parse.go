package imapmsg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Limits that keep hostile messages cheap. Deeper parts are opaque leaves.
const (
	maxDepth       = 100     // nesting of multiparts and messages
	maxParts       = 10000   // parts per message; later ones are not split
	maxHeaderBytes = 1 << 20 // header bytes per part kept for parsing
	parseBufSize   = 64 << 10
	headerBufSize  = 2 << 10 // first read of ParseHeader
)

// stop says where a body ended: at a boundary line (idx is its index in
// parser.bounds, final for a close delimiter) or at the end of input (idx
// -1). end excludes the CRLF that belongs to the delimiter.
type stop struct {
	idx    int
	final  bool
	end    int64
	endLFs int64
}

// parser is one streaming pass over a message.
type parser struct {
	lr     *lineReader
	bounds []string // boundaries of the open multiparts, innermost last
	hdr    []byte   // scratch for the header being read
	nparts int
}

// parseEntity reads an entity (header and body) starting at the current
// offset, until a boundary of an enclosing multipart or the end.
func (p *parser) parseEntity(pt *part, depth int, root, digest bool) (stop, error) {
	pt.start = p.lr.off
	p.nparts++
	p.hdr = p.hdr[:0]
	for {
		f, err := p.lr.next()
		if err == io.EOF {
			// A header without body (or a truncated one).
			pt.bodyStart, pt.bodyLFs = p.lr.off, p.lr.lfs
			pt.setFields(p.hdr, root, digest)
			st := stop{idx: -1, end: p.lr.off, endLFs: p.lr.lfs}
			pt.setEnd(st)
			return st, nil
		}
		if err != nil {
			return stop{}, err
		}
		if f.lineStart {
			if i, fin := p.boundary(f.b); i >= 0 {
				// A boundary inside the header: the part has no body.
				pt.bodyStart, pt.bodyLFs = f.off, f.lfsBefore
				pt.setFields(p.hdr, root, digest)
				st := p.stopAt(f, i, fin)
				pt.setEnd(st)
				return st, nil
			}
			if isBlankLine(f.b) {
				pt.bodyStart, pt.bodyLFs = p.lr.off, p.lr.lfs
				break
			}
		}
		if len(p.hdr)+len(f.b) <= maxHeaderBytes {
			p.hdr = append(p.hdr, f.b...)
		}
	}
	pt.setFields(p.hdr, root, digest)

	deep := depth >= maxDepth || p.nparts >= maxParts
	if pt.isMultipart() && !deep {
		if b, _ := lookupParam(pt.params, "boundary"); b != "" {
			return p.parseMultipart(pt, b, depth)
		}
	}
	if pt.isMessage() && pt.identityCTE() && !deep {
		child := &part{}
		st, err := p.parseEntity(child, depth+1, true, false)
		pt.msg = child
		pt.setEnd(st)
		return st, err
	}
	st, err := p.scan()
	pt.setEnd(st)
	return st, err
}

// parseMultipart reads the body of a multipart: preamble, parts, epilogue
// (RFC 2046 5.1.1). A missing close delimiter ends it where an enclosing
// boundary or the input ends.
func (p *parser) parseMultipart(pt *part, boundary string, depth int) (stop, error) {
	own := len(p.bounds)
	p.bounds = append(p.bounds, boundary)
	defer func() { p.bounds = p.bounds[:own] }()
	digest := equalFoldString(pt.subtype, "digest")

	st, err := p.scan() // the preamble
	for err == nil && st.idx == own && !st.final {
		if p.nparts >= maxParts && len(pt.children) > 0 {
			// Too many parts: the rest of this multipart joins its last part.
			last := pt.children[len(pt.children)-1]
			for err == nil && st.idx == own && !st.final {
				st, err = p.scan()
			}
			last.setEnd(st)
			break
		}
		child := &part{}
		pt.children = append(pt.children, child)
		st, err = p.parseEntity(child, depth+1, false, digest)
	}
	if err != nil {
		return st, err
	}
	if st.idx == own { // close delimiter: the epilogue runs to an outer boundary
		p.bounds = p.bounds[:own]
		st, err = p.scan()
	}
	pt.setEnd(st)
	return st, err
}

// scan skips body lines up to a boundary line or the end.
func (p *parser) scan() (stop, error) {
	for {
		f, err := p.lr.next()
		if err == io.EOF {
			return stop{idx: -1, end: p.lr.off, endLFs: p.lr.lfs}, nil
		}
		if err != nil {
			return stop{}, err
		}
		if f.lineStart && len(p.bounds) > 0 {
			if i, fin := p.boundary(f.b); i >= 0 {
				return p.stopAt(f, i, fin), nil
			}
		}
	}
}

// stopAt is the stop for boundary line f: the line end before it is part
// of the delimiter.
func (p *parser) stopAt(f frag, i int, final bool) stop {
	st := stop{idx: i, final: final, end: f.off - int64(f.termBefore), endLFs: f.lfsBefore}
	if f.termBefore > 0 {
		st.endLFs--
	}
	return st
}

// boundary reports whether line is a delimiter of an open multipart:
// "--" boundary, then "--" for the close delimiter, then only blanks
// (RFC 2046 5.1.1). The innermost match wins.
func (p *parser) boundary(line []byte) (idx int, final bool) {
	if len(line) < 3 || line[0] != '-' || line[1] != '-' {
		return -1, false
	}
	rest := line[2:]
	for i := len(p.bounds) - 1; i >= 0; i-- {
		b := p.bounds[i]
		if len(rest) < len(b) || string(rest[:len(b)]) != b {
			continue
		}
		t := rest[len(b):]
		fin := len(t) >= 2 && t[0] == '-' && t[1] == '-'
		if fin {
			t = t[2:]
		}
		if isBlanks(t) {
			return i, fin
		}
	}
	return -1, false
}

func isBlanks(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

func isBlankLine(b []byte) bool {
	return (len(b) == 1 && b[0] == '\n') || (len(b) == 2 && b[0] == '\r' && b[1] == '\n')
}

func equalFoldString(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// parse runs the parser over the whole message.
func parse(r io.ReaderAt, size int64) (*part, error) {
	if size < 0 {
		return nil, errors.New("imapmsg: negative size")
	}
	return parseLines(newLineReader(r, size, parseBufSize))
}

// parseInMemory is parse over a message held whole in data: its lines are
// sliced from it, not copied through a buffer.
func parseInMemory(data []byte) (*part, error) {
	return parseLines(newBytesLineReader(data, parseBufSize))
}

// parseLines runs the parser over the lines of lr.
func parseLines(lr *lineReader) (*part, error) {
	p := &parser{lr: lr}
	root := &part{}
	if _, err := p.parseEntity(root, 0, true, false); err != nil {
		return nil, fmt.Errorf("imapmsg: parsing message: %w", err)
	}
	return root, nil
}

// parseHeader reads only the top-level header, in growing chunks straight
// into the buffer it is parsed from: no line reader, few allocations. It
// also returns the header's bytes up to the body (blank line included),
// nil when it did not read all of them (a header past maxHeaderBytes).
func parseHeader(r io.ReaderAt, size int64) (*part, []byte, error) {
	if size < 0 {
		return nil, nil, errors.New("imapmsg: negative size")
	}
	buf := make([]byte, 0, min(size, headerBufSize))
	hdrEnd, bodyStart := int64(-1), size
	for int64(len(buf)) < size && len(buf) < maxHeaderBytes {
		n := min(size-int64(len(buf)), int64(max(cap(buf)-len(buf), headerBufSize)))
		from := len(buf)
		buf = slices.Grow(buf, int(n))[:from+int(n)]
		if _, err := r.ReadAt(buf[from:], int64(from)); err != nil && err != io.EOF {
			return nil, nil, fmt.Errorf("imapmsg: reading header: %w", err)
		}
		if e, b := headerEnd(buf, max(from-2, 0)); e >= 0 {
			hdrEnd, bodyStart = int64(e), int64(b)
			break
		}
	}
	root, whole := headerRoot(buf, hdrEnd, bodyStart, size, true)
	return root, whole, nil
}

// parseHeaderInMemory is parseHeader over a message held whole in data,
// at most maxHeaderBytes long: the header is parsed where it lies.
func parseHeaderInMemory(data []byte, envelope bool) (*part, []byte) {
	hdrEnd, bodyStart := int64(-1), int64(len(data))
	if e, b := headerEnd(data, 0); e >= 0 {
		hdrEnd, bodyStart = int64(e), int64(b)
	}
	return headerRoot(data, hdrEnd, bodyStart, int64(len(data)), envelope)
}

// headerRoot is the root part of a message of size bytes whose first
// bytes, buf, hold the header up to hdrEnd (-1: no end found in buf) and
// the body from bodyStart; and the header's bytes up to the body, nil
// when buf does not hold them all. Without envelope, the envelope's
// fields are left unparsed (ParseTextBytes).
func headerRoot(buf []byte, hdrEnd, bodyStart, size int64, envelope bool) (*part, []byte) {
	h := buf
	if hdrEnd >= 0 {
		h = buf[:hdrEnd]
	} else if len(buf) < maxHeaderBytes {
		bodyStart = int64(len(buf)) // all header, no body
	}
	root := &part{bodyStart: bodyStart, end: size}
	root.setFields(h, envelope, false)
	var whole []byte
	if bodyStart <= int64(len(buf)) {
		whole = buf[:bodyStart:bodyStart]
	}
	return root, whole
}

// headerEnd finds the blank line that ends a header in b, looking from
// from: it returns the end of the header (after its last line end) and
// the start of the body, or -1.
func headerEnd(b []byte, from int) (end, body int) {
	if from == 0 {
		// An empty header: the message starts with the blank line.
		if bytes.HasPrefix(b, []byte("\r\n")) {
			return 0, 2
		}
		if bytes.HasPrefix(b, []byte("\n")) {
			return 0, 1
		}
	}
	for i := from; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1, -1
		}
		i += j
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 1, i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 1, i + 3
		}
	}
	return -1, -1
}
