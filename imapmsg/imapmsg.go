// Package imapmsg reads the MIME structure of a stored message for IMAP:
// ENVELOPE, BODYSTRUCTURE, body sections, BINARY decoding and the text
// tests of SEARCH. It reads from an io.ReaderAt and never loads a whole
// large message into memory.
//
// Parse makes one streaming pass over the message and keeps only offsets
// and the parsed Content-* and envelope header fields of each part; body
// bytes are read again from the io.ReaderAt on demand. Line ends may be
// CRLF (as the store writes them) or bare LF; malformed MIME is read
// leniently, as Dovecot does: a missing close delimiter ends a multipart at
// the end of its parent, header garbage is skipped, and parts nested
// deeper than 100 levels are opaque.
//
// A Message is safe for concurrent use once built, except that a Message
// from ParseHeader parses the rest of itself on first need; use it from
// one goroutine, or call Parse.
package imapmsg

import (
	"bytes"
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
	root *part
	full bool // the whole structure is parsed, not just the header
	// header is the top-level header up to the body as ParseHeader read
	// it (nil from Parse, or when it was too big to read whole), so that
	// what reads the header again (EnvelopeHeader, HeaderContains) does
	// not read the message again: for a Maildir file, one pread less.
	header []byte
	// data is the whole message when it is in memory
	// (ParseHeaderBytes), so that SEARCH BODY reads text in place.
	data []byte
}

// Parse reads the header and MIME structure of the message in r.
func Parse(r io.ReaderAt, size int64) (*Message, error) {
	root, err := parse(r, size)
	if err != nil {
		return nil, err
	}
	return &Message{r: r, size: size, root: root, full: true}, nil
}

// ParseHeader reads only the top-level header: enough for ENVELOPE and the
// header search keys, cheaper than Parse. The other methods parse the rest
// when they need it.
func ParseHeader(r io.ReaderAt, size int64) (*Message, error) {
	root, header, err := parseHeader(r, size)
	if err != nil {
		return nil, err
	}
	return &Message{r: r, size: size, root: root, header: header}, nil
}

// ParseHeaderBytes is ParseHeader over a message held whole in b, which
// the Message keeps and reads from (b must not change while it is used):
// SEARCH BODY and TEXT then search text that needs no decoding where it
// lies, without a reader.
func ParseHeaderBytes(b []byte) (*Message, error) {
	if len(b) > maxHeaderBytes {
		m, err := ParseHeader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return nil, err
		}
		m.data = b
		return m, nil
	}
	root, header := parseHeaderInMemory(b, true)
	return &Message{r: bytes.NewReader(b), size: int64(len(b)), root: root, header: header, data: b}, nil
}

// ParseTextBytes is ParseHeaderBytes for SEARCH's text keys alone (BODY,
// TEXT, HEADER and the header field keys), which read the header fields
// as they are written: the envelope's fields are not parsed, so Date is
// zero and the envelope and sort keys are empty. (In a profile of a
// search over 100,000 small messages, taking the header's fields apart
// for the envelope and the Content-* fields was an eighth of the check.)
func ParseTextBytes(b []byte) (*Message, error) {
	if len(b) > maxHeaderBytes {
		return ParseHeaderBytes(b)
	}
	root, header := parseHeaderInMemory(b, false)
	return &Message{r: bytes.NewReader(b), size: int64(len(b)), root: root, header: header, data: b}, nil
}

// Size returns the message's size in octets (RFC822.SIZE).
func (m *Message) Size() int64 { return m.size }

// structure returns the fully parsed root part.
func (m *Message) structure() (*part, error) {
	if !m.full {
		var root *part
		var err error
		if m.data != nil {
			root, err = parseInMemory(m.data)
		} else {
			root, err = parse(m.r, m.size)
		}
		if err != nil {
			return nil, err
		}
		m.root, m.full = root, true
	}
	return m.root, nil
}

// WriteEnvelope writes the ENVELOPE value (RFC 9051 7.5.2).
func (m *Message) WriteEnvelope(w *imapwire.Writer) { writeEnvelope(w, m.root.env) }

// WriteBodyStructure writes BODYSTRUCTURE (extended) or BODY (not), RFC
// 9051 7.5.2. A message that cannot be read again is reported as an empty
// text/plain body, so the response stays well-formed; the read error
// surfaces on the next Section or Binary.
func (m *Message) WriteBodyStructure(w *imapwire.Writer, extended bool) {
	root, err := m.structure()
	if err != nil {
		root = &part{}
	}
	writeBody(w, root, extended)
}

// Date returns the Date header's time, zero when absent or bad.
func (m *Message) Date() time.Time {
	env := m.root.env
	if env == nil || !env.has[envDate] {
		return time.Time{}
	}
	return parseDate(env.v[envDate])
}

// EnvelopeHeader returns the fields of the top-level header that ENVELOPE
// reports (Date, Subject, From, Sender, Reply-To, To, Cc, Bcc,
// In-Reply-To, Message-ID) and References, as written and in their order,
// then a blank line. Parsed with ParseHeader, this block answers
// WriteEnvelope, Date, HeaderContains for those fields and the sort and
// thread keys (sortkeys.go) exactly as the whole message does, so a store
// can keep it and spare FETCH ENVELOPE, the SEARCH keys FROM, TO, CC, BCC,
// SUBJECT and SENT*, SORT and THREAD from opening the message.
func (m *Message) EnvelopeHeader() ([]byte, error) {
	return m.filterHeader(m.root, envNames[:], false)
}

// IsEnvelopeField reports whether a header field is one EnvelopeHeader
// keeps.
func IsEnvelopeField(name string) bool {
	for _, n := range envNames {
		if equalFoldString(n, name) {
			return true
		}
	}
	return false
}

// WritePartStructure writes the extended body structure of the part at
// path (the whole message for the empty path), for URLFETCH's
// BODYPARTSTRUCTURE (RFC 5524 4); false, writing nothing, when there is
// no such part.
func (m *Message) WritePartStructure(w *imapwire.Writer, path []int) bool {
	root, err := m.structure()
	if err != nil {
		return false
	}
	p := findPart(root, path)
	if p == nil {
		return false
	}
	writeBody(w, p, true)
	return true
}
