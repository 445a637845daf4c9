package imapwire

import (
	"bufio"
	"strconv"
	"time"
	unicodeutf8 "unicode/utf8"

	"github.com/dormouse/dormouse/mailstore"
)

// Writer writes IMAP responses. It buffers; call Flush when a response (or
// a batch of them) is complete. Errors are sticky: after the first one every
// call is a no-op and Flush returns it.
type Writer struct {
	w *bufio.Writer
	// UTF8 allows 8-bit text in quoted strings (RFC 6855 UTF8=ACCEPT);
	// otherwise such strings go as literals.
	UTF8 bool
	err  error
}

// NewWriter returns a Writer on w.
func NewWriter(w *bufio.Writer) *Writer { return &Writer{w: w} }

// Reset makes the Writer write to w, keeping nothing of before.
func (w *Writer) Reset(bw *bufio.Writer) { w.w, w.err, w.UTF8 = bw, nil, false }

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }

// Flush writes buffered data to the underlying writer.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// Buffered returns how many bytes wait in the buffer.
func (w *Writer) Buffered() int { return w.w.Buffered() }

// Raw writes s as it is: for keywords, response codes and fixed text.
func (w *Writer) Raw(s string) *Writer {
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
	return w
}

// RawBytes writes b as it is.
func (w *Writer) RawBytes(b []byte) *Writer {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
	return w
}

func (w *Writer) byte1(c byte) *Writer {
	if w.err == nil {
		w.err = w.w.WriteByte(c)
	}
	return w
}

// SP writes a space.
func (w *Writer) SP() *Writer { return w.byte1(' ') }

// CRLF ends a response line.
func (w *Writer) CRLF() *Writer { return w.Raw("\r\n") }

// Open writes "(".
func (w *Writer) Open() *Writer { return w.byte1('(') }

// Close writes ")".
func (w *Writer) Close() *Writer { return w.byte1(')') }

// Number writes an unsigned number.
func (w *Writer) Number(n uint64) *Writer {
	if w.err == nil {
		// AvailableBuffer: format in place, without a copy or allocation.
		_, w.err = w.w.Write(strconv.AppendUint(w.w.AvailableBuffer(), n, 10))
	}
	return w
}

// Number32 writes an unsigned 32-bit number.
func (w *Writer) Number32(n uint32) *Writer { return w.Number(uint64(n)) }

// NIL writes NIL.
func (w *Writer) NIL() *Writer { return w.Raw("NIL") }

// String writes s as a quoted string when it can be one, else as a literal.
func (w *Writer) String(s string) *Writer {
	if quotable(s, w.UTF8) {
		return w.quoted(s)
	}
	return w.literalString(s)
}

// NString writes s as a string, or NIL when s is nil.
func (w *Writer) NString(s *string) *Writer {
	if s == nil {
		return w.NIL()
	}
	return w.String(*s)
}

// AString writes s as an atom when it can be one, else as a string.
func (w *Writer) AString(s string) *Writer {
	if isAtom(s) {
		return w.Raw(s)
	}
	return w.String(s)
}

// Literal writes b as a synchronizing-form literal {n}CRLF followed by b
// (servers always send the plain form).
func (w *Writer) Literal(b []byte) *Writer {
	w.LiteralHeader(int64(len(b)), false)
	return w.RawBytes(b)
}

// LiteralHeader writes "{n}\r\n" (or "~{n}\r\n" for literal8); the caller
// then writes exactly n bytes.
func (w *Writer) LiteralHeader(n int64, binary bool) *Writer {
	if binary {
		w.byte1('~')
	}
	w.byte1('{')
	w.Number(uint64(n))
	return w.Raw("}\r\n")
}

func (w *Writer) literalString(s string) *Writer {
	w.LiteralHeader(int64(len(s)), false)
	return w.Raw(s)
}

func (w *Writer) quoted(s string) *Writer {
	w.byte1('"')
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			w.Raw(s[start:i])
			w.byte1('\\')
			start = i
		}
	}
	w.Raw(s[start:])
	return w.byte1('"')
}

// Date writes an INTERNALDATE-style date-time: "02-Jan-2006 15:04:05 -0700".
func (w *Writer) Date(t time.Time) *Writer {
	if w.err == nil {
		b := append(w.w.AvailableBuffer(), '"')
		b = t.AppendFormat(b, "02-Jan-2006 15:04:05 -0700")
		b = append(b, '"')
		_, w.err = w.w.Write(b)
	}
	return w
}

// quotable says whether s fits in a quoted string: no CR, LF or NUL, not too
// long, and 7-bit unless utf8, then valid UTF-8.
func quotable(s string, utf8 bool) bool {
	if len(s) > 1024 {
		return false
	}
	wide := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' || c == 0 || (c >= 0x80 && !utf8) {
			return false
		}
		wide = wide || c >= 0x80
	}
	// RFC 6855 3: under UTF8=ACCEPT a quoted string holds UTF-8 only;
	// other 8-bit bytes go as a literal.
	return !wide || unicodeutf8.ValidString(s)
}

// isAtom says whether s can be sent as an atom (RFC 9051 9, "atom").
func isAtom(s string) bool {
	if s == "" || len(s) > 1024 || s == "NIL" || s == "nil" || s == "Nil" || s == "nIL" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsAtomChar(s[i]) {
			return false
		}
	}
	return true
}

// IsAtomChar reports whether c is an ATOM-CHAR: any CHAR except
// atom-specials "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]".
func IsAtomChar(c byte) bool {
	if c <= 0x1f || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// Mailbox writes a mailbox name as an astring: modified UTF-7 (RFC 3501
// 5.1.3) unless w.UTF8, when it goes as UTF-8 (RFC 6855 3).
func (w *Writer) Mailbox(name string) *Writer {
	if mailstore.IsInbox(name) {
		return w.Raw(mailstore.Inbox)
	}
	if !w.UTF8 {
		name = EncodeMUTF7(name)
	}
	return w.AString(name)
}

// SeqSet writes a sequence set as the client would write it.
func (w *Writer) SeqSet(s SeqSet) *Writer { return w.Raw(s.String()) }

// UIDSet writes numbers as a compact sequence set (FormatUIDSet).
func (w *Writer) UIDSet(uids []uint32) *Writer {
	if w.err == nil {
		_, w.err = w.w.Write(AppendUIDSet(w.w.AvailableBuffer(), uids))
	}
	return w
}
