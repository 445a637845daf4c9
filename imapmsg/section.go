package imapmsg

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/dormouse/dormouse/imapwire"
)

// Section returns the bytes of a BODY[section] (before any partial), RFC
// 9051 6.4.5:
//
//   - [] the whole message, [HEADER] and [TEXT] its header (with the blank
//     line) and body;
//   - [HEADER.FIELDS (..)] and [HEADER.FIELDS.NOT (..)] the matching fields
//     as written (folding kept) and the blank line, built in memory;
//   - [n.m] a part's body, the whole encapsulated message for a
//     message/rfc822 part; [1] of a non-multipart message is its body;
//   - [n.MIME] a part's MIME header; [n.HEADER], [n.TEXT], [n.HEADER.FIELDS]
//     the header and body of a message/rfc822 part's message.
//
// A part that does not exist, or HEADER/TEXT of a part that is not a
// message, gives an empty section, which the server sends as the empty
// string "" rather than failing the FETCH: RFC 9051 6.4.5 defines no
// error for it, and an empty string keeps the response well-formed for
// every client. HasPart tells the cases apart for a server that prefers
// NIL. An error means the message could not be read.
//
// Sections of the top level ([], [HEADER], [HEADER.FIELDS], [TEXT]) need
// only what ParseHeader read; part sections parse the structure.
func (m *Message) Section(s *imapwire.Section) (*io.SectionReader, error) {
	spec := strings.ToUpper(s.Specifier)
	empty := io.NewSectionReader(bytes.NewReader(nil), 0, 0)
	p := m.root // the part the path names; the root for an empty path
	if len(s.Part) > 0 {
		root, err := m.structure()
		if err != nil {
			return nil, err
		}
		if p = findPart(root, s.Part); p == nil {
			return empty, nil
		}
	}
	switch spec {
	case "":
		if len(s.Part) == 0 {
			return io.NewSectionReader(m.r, 0, m.size), nil
		}
		return m.span(p.bodyStart, p.end), nil
	case "MIME":
		if len(s.Part) == 0 {
			return empty, nil // MIME needs a part number (RFC 9051 6.4.5)
		}
		return m.span(p.start, p.bodyStart), nil
	}
	// HEADER, HEADER.FIELDS[.NOT], TEXT address a message: the top one or
	// that of a message/rfc822 part.
	msg := p
	if len(s.Part) > 0 {
		if !p.isMessage() || p.msg == nil {
			return empty, nil
		}
		msg = p.msg
	}
	switch spec {
	case "HEADER":
		return m.span(msg.start, msg.bodyStart), nil
	case "TEXT":
		end := msg.end
		if msg == m.root {
			end = m.size // also right when only the header was parsed
		}
		return m.span(msg.bodyStart, end), nil
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		b, err := m.filterHeader(msg, s.Fields, spec == "HEADER.FIELDS.NOT")
		if err != nil {
			return nil, err
		}
		return io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b))), nil
	}
	return nil, fmt.Errorf("imapmsg: unknown section specifier %q", s.Specifier)
}

func (m *Message) span(from, to int64) *io.SectionReader {
	return io.NewSectionReader(m.r, from, to-from)
}

// HasPart reports whether the part path names an existing part (RFC 9051
// 6.4.5 numbering); the empty path is the whole message and always exists.
func (m *Message) HasPart(path []int) (bool, error) {
	if len(path) == 0 {
		return true, nil
	}
	root, err := m.structure()
	if err != nil {
		return false, err
	}
	return findPart(root, path) != nil, nil
}

// findPart resolves a 1-based part path (RFC 9051 6.4.5): the parts of a
// multipart are numbered from 1; a non-multipart entity has the single
// part 1, itself; the parts of a message/rfc822 part are those of its
// message.
func findPart(root *part, path []int) *part {
	cur := root
	for k, n := range path {
		if k > 0 {
			switch {
			case cur.isMessage() && cur.msg != nil:
				cur = cur.msg
			case len(cur.children) == 0:
				return nil
			}
		}
		if len(cur.children) > 0 {
			if n < 1 || n > len(cur.children) {
				return nil
			}
			cur = cur.children[n-1]
		} else if n != 1 || cur.isMultipart() {
			return nil
		}
	}
	return cur
}

// readHeader returns the raw header of p, at most maxHeaderBytes of it;
// callers do not modify it (it may be the header ParseHeader kept).
func (m *Message) readHeader(p *part) ([]byte, error) {
	n := min(p.bodyStart-p.start, maxHeaderBytes)
	if p.start == 0 && m.header != nil && int64(len(m.header)) == n {
		return m.header, nil // the top-level header, as ParseHeader read it
	}
	b := make([]byte, n)
	if _, err := m.r.ReadAt(b, p.start); err != nil && !(err == io.EOF && n == 0) {
		if err != io.EOF {
			return nil, fmt.Errorf("imapmsg: reading header: %w", err)
		}
	}
	return b, nil
}

// filterHeader builds HEADER.FIELDS (or .NOT) of p: the fields whose names
// are (or are not) in names, as written, then the blank line (RFC 9051
// 6.4.5).
func (m *Message) filterHeader(p *part, names []string, not bool) ([]byte, error) {
	h, err := m.readHeader(p)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 256)
	eachField(h, func(name, _, raw []byte) bool {
		in := false
		for _, n := range names {
			if bytes.EqualFold(name, []byte(n)) {
				in = true
				break
			}
		}
		if in != not {
			out = append(out, raw...)
			if raw[len(raw)-1] != '\n' {
				out = append(out, '\r', '\n')
			}
		}
		return true
	})
	return append(out, '\r', '\n'), nil
}
