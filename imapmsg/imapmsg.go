// Package imapmsg reads the MIME structure of a stored message for IMAP:
// ENVELOPE, BODYSTRUCTURE, body sections, BINARY decoding and the text
// tests of SEARCH. It reads from an io.ReaderAt and never loads a whole
// large message into memory.
package imapmsg

import (
	"errors"
	"io"
	"time"

	"github.com/dormouse/dormouse/imapwire"
)

// ErrUnknownCTE is returned by Binary for a content transfer encoding it
// cannot decode (RFC 3516 UNKNOWN-CTE).
var ErrUnknownCTE = errors.New("unknown content transfer encoding")

// Message is a message's parsed structure: header and part boundaries as
// offsets into its content, no body bytes.
type Message struct {
	r    io.ReaderAt
	size int64
}

// Parse reads the header and MIME structure of the message in r.
func Parse(r io.ReaderAt, size int64) (*Message, error) {
	return nil, errors.New("imapmsg: not implemented")
}

// ParseHeader reads only the top-level header: enough for ENVELOPE and the
// header search keys, cheaper than Parse.
func ParseHeader(r io.ReaderAt, size int64) (*Message, error) {
	return nil, errors.New("imapmsg: not implemented")
}

// WriteEnvelope writes the ENVELOPE value (RFC 9051 7.5.2).
func (m *Message) WriteEnvelope(w *imapwire.Writer) {}

// WriteBodyStructure writes BODYSTRUCTURE (extended) or BODY (not).
func (m *Message) WriteBodyStructure(w *imapwire.Writer, extended bool) {}

// Section returns the bytes of a BODY[section] (before any partial).
func (m *Message) Section(s *imapwire.Section) (*io.SectionReader, error) {
	return nil, errors.New("imapmsg: not implemented")
}

// Binary returns the decoded content of a part for BINARY[part] and its
// decoded size for BINARY.SIZE.
func (m *Message) Binary(part []int) (io.Reader, int64, error) {
	return nil, 0, errors.New("imapmsg: not implemented")
}

// HeaderContains reports whether a header field named field (any, when
// field is "") has a decoded value containing s, case-insensitively.
func (m *Message) HeaderContains(field, s string) bool { return false }

// BodyContains reports whether a decoded text part of the body contains s,
// case-insensitively (SEARCH BODY).
func (m *Message) BodyContains(s string) bool { return false }

// TextContains reports whether the header or body contains s (SEARCH TEXT).
func (m *Message) TextContains(s string) bool { return false }

// Date returns the Date header's time, zero when absent or bad.
func (m *Message) Date() time.Time { return time.Time{} }
