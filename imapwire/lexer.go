package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// errEmptyEOF is the end of input between commands: a clean close.
var errEmptyEOF = errors.New("imapwire: end of input")

// unexpected turns io.EOF in the middle of a command into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// maxText bounds a command's text: its lines and string literals.
func (d *Decoder) maxText() int64 { return 4 * int64(d.opts.MaxLine) }

// readLine reads the next line into d.line without its CRLF. A bare LF
// ends a line too (lenient, as most servers are). An overlong line is
// discarded up to its end and reported as a *CommandError, with d.line
// holding its last bytes so that a literal announced there can be skipped.
func (d *Decoder) readLine() error {
	d.line = d.line[:0]
	d.pos = 0
	d.litPending = false
	limit := d.opts.MaxLine + 2
	for {
		chunk, err := d.r.ReadSlice('\n')
		if len(d.line)+len(chunk) > limit {
			return d.discardLine(chunk, err)
		}
		d.line = append(d.line, chunk...)
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(d.line) == 0 {
			return errEmptyEOF
		}
		return fmt.Errorf("imapwire: reading command: %w", unexpected(err))
	}
	n := len(d.line) - 1
	if n > 0 && d.line[n-1] == '\r' {
		n--
	}
	d.line = d.line[:n]
	d.litPending = true
	d.text += int64(n) + 2
	if d.text > d.maxText() {
		return tooBig("command too long")
	}
	return nil
}

// discardLine reads and drops the rest of an overlong line.
func (d *Decoder) discardLine(chunk []byte, err error) error {
	ce := &CommandError{Msg: "line too long"}
	if d.wantTag {
		// The start of a command: its tag is still worth reporting.
		head := append(d.line, chunk...)
		if i := bytes.IndexByte(head, ' '); i > 0 && ValidTag(head[:i]) {
			ce.Tag = string(head[:i])
		}
	}
	const keep = 32
	var tail [2 * keep]byte
	t := 0
	for {
		if len(chunk) >= keep {
			t = copy(tail[:], chunk[len(chunk)-keep:])
		} else {
			if t+len(chunk) > len(tail) {
				t = copy(tail[:], tail[t-keep:t])
			}
			t += copy(tail[t:], chunk)
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return fmt.Errorf("imapwire: discarding line: %w", unexpected(err))
		}
		chunk, err = d.r.ReadSlice('\n')
	}
	d.line = append(d.line[:0], bytes.TrimRight(tail[:t], "\r\n")...)
	d.pos = len(d.line)
	d.litPending = true
	d.text = d.maxText() // the command is over budget anyway
	return ce
}

// checkLine refuses NUL and bare CR in command text (RFC 9051 9: CHAR8
// excludes NUL and CR only appears in CRLF).
func (d *Decoder) checkLine() error {
	if bytes.IndexByte(d.line, 0) >= 0 {
		return badf("NUL byte in command")
	}
	if bytes.IndexByte(d.line, '\r') >= 0 {
		return badf("bare CR in command")
	}
	return nil
}

// nextLine reads the line that continues a command after a literal.
func (d *Decoder) nextLine() error {
	if err := d.readLine(); err != nil {
		if errors.Is(err, errEmptyEOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return d.checkLine()
}

// TrailingLiteral finds a literal announcement ending line (without its
// CRLF): "{n}", "{n+}" or "~{n}"; sync is false for a non-synchronising
// one. An absurd size saturates at math.MaxInt64, for the caller's bound
// to refuse.
func TrailingLiteral(line []byte) (n int64, sync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false, false
	}
	digits := line[i+1 : len(line)-1]
	sync = true
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		digits, sync = digits[:len(digits)-1], false
	}
	n, ok = parseDigits(digits)
	return n, sync, ok
}

// parseDigits parses a decimal number, saturating at math.MaxInt64 so
// that an absurd announcement is simply too large.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-9)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// ValidTag reports whether b is a tag as the Decoder accepts it (RFC 9051
// 9: tag = 1*<any ASTRING-CHAR except "+">).
func ValidTag(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c == '+' || !isAStringChar(c) {
			return false
		}
	}
	return true
}

// isAStringChar reports an ASTRING-CHAR: ATOM-CHAR or resp-specials "]".
func isAStringChar(c byte) bool { return c == ']' || IsAtomChar(c) }

func (d *Decoder) peek() byte {
	if d.pos < len(d.line) {
		return d.line[d.pos]
	}
	return 0 // NUL never reaches the parser, so 0 means the end
}

func (d *Decoder) atEnd() bool { return d.pos >= len(d.line) }

// sp consumes one space.
func (d *Decoder) sp() error { return d.expect(' ') }

func (d *Decoder) expect(c byte) error {
	if d.peek() != c {
		switch {
		case d.atEnd() && c == ' ':
			return badf("missing argument")
		case d.atEnd():
			return badf("missing %q", string(rune(c)))
		case d.peek() >= 0x80:
			return badf("8-bit character outside a string")
		}
		return badf("expected %q at %q", string(rune(c)), d.rest())
	}
	d.pos++
	return nil
}

// rest is the unread part of the line, shortened for messages.
func (d *Decoder) rest() string {
	r := d.line[d.pos:]
	if len(r) > 20 {
		r = r[:20]
	}
	return string(r)
}

// end checks that the command has no more arguments.
func (d *Decoder) end() error {
	if !d.atEnd() {
		return badf("unexpected %q after arguments", d.rest())
	}
	return nil
}

// atom reads 1*ATOM-CHAR; the slice is valid until the next line.
func (d *Decoder) atom() ([]byte, error) {
	i := d.pos
	for i < len(d.line) && IsAtomChar(d.line[i]) {
		i++
	}
	if i == d.pos {
		if d.atEnd() {
			return nil, badf("missing argument")
		}
		return nil, badf("expected an atom at %q", d.rest())
	}
	b := d.line[d.pos:i]
	d.pos = i
	return b, nil
}

// keyword reads an atom and upper-cases it into a buffer of d's, valid
// until the next keyword call; comparisons against it do not allocate.
func (d *Decoder) keyword(buf []byte) ([]byte, error) {
	b, err := d.atom()
	if err != nil {
		return nil, err
	}
	return upper(buf, b), nil
}

// upper copies b upper-cased into buf (growing it if needed).
func upper(buf, b []byte) []byte {
	buf = buf[:0]
	for _, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// astring reads an astring: atom (with "]"), quoted string or literal.
func (d *Decoder) astring() (string, error) {
	switch d.peek() {
	case '"':
		return d.quoted()
	case '{':
		return d.literalString()
	}
	i := d.pos
	high := false
	for i < len(d.line) {
		c := d.line[i]
		if c >= 0x80 && d.utf8 {
			// RFC 6855 3: UTF-8 is tolerated in atoms under UTF8=ACCEPT.
			high = true
		} else if !isAStringChar(c) {
			break
		}
		i++
	}
	if i == d.pos {
		if d.atEnd() {
			return "", badf("missing argument")
		}
		if c := d.peek(); c >= 0x80 {
			return "", badf("8-bit character in atom")
		}
		return "", badf("expected a string at %q", d.rest())
	}
	b := d.line[d.pos:i]
	if high && !utf8.Valid(b) {
		return "", badf("invalid UTF-8")
	}
	d.pos = i
	return string(b), nil
}

// str reads a string: quoted or literal.
func (d *Decoder) str() (string, error) {
	switch d.peek() {
	case '"':
		return d.quoted()
	case '{':
		return d.literalString()
	}
	return "", badf("expected a string at %q", d.rest())
}

// nstring reads a string or NIL; ok is false for NIL.
func (d *Decoder) nstring() (s string, ok bool, err error) {
	if c := d.peek(); c == 'N' || c == 'n' {
		b, err := d.atom()
		if err != nil {
			return "", false, err
		}
		if !strings.EqualFold(string(b), "NIL") {
			return "", false, badf("expected a string or NIL")
		}
		return "", false, nil
	}
	s, err = d.str()
	return s, err == nil, err
}

// quoted reads a quoted string (RFC 9051 4.3): only \" and \\ escapes.
// 8-bit text must be valid UTF-8: RFC 9051 9 lets QUOTED-CHAR be UTF8-2,
// UTF8-3 or UTF8-4, and clients send it in SEARCH CHARSET UTF-8 keys.
// Mailbox names still refuse it outside UTF8=ACCEPT, in mailboxName.
func (d *Decoder) quoted() (string, error) {
	start := d.pos + 1
	escaped, high := false, false
	i := start
	for ; i < len(d.line); i++ {
		c := d.line[i]
		if c == '"' {
			break
		}
		if c == '\\' {
			if i+1 >= len(d.line) || (d.line[i+1] != '"' && d.line[i+1] != '\\') {
				return "", badf("bad escape in quoted string")
			}
			escaped = true
			i++
			continue
		}
		if c >= 0x80 {
			high = true
		}
	}
	if i >= len(d.line) {
		return "", badf("unterminated quoted string")
	}
	b := d.line[start:i]
	d.pos = i + 1
	if high && !utf8.Valid(b) {
		return "", badf("invalid UTF-8 in quoted string")
	}
	if !escaped {
		return string(b), nil
	}
	out := make([]byte, 0, len(b))
	for j := 0; j < len(b); j++ {
		if b[j] == '\\' {
			j++
		}
		out = append(out, b[j])
	}
	return unsafe.String(unsafe.SliceData(out), len(out)), nil
}

// literalHeader parses "{n}", "{n+}" or (with binary) "~{n}" at the
// position, which must end the line (RFC 9051 4.3, RFC 7888, RFC 3516).
func (d *Decoder) literalHeader(allowBinary bool) (n int64, sync, binary bool, err error) {
	if d.peek() == '~' {
		if !allowBinary {
			return 0, false, false, badf("literal8 not allowed here")
		}
		binary = true
		d.pos++
	}
	if err := d.expect('{'); err != nil {
		return 0, false, false, err
	}
	rest := d.line[d.pos:]
	n, sync, ok := TrailingLiteral(d.line[d.pos-1:])
	if !ok || bytes.IndexByte(rest, '{') >= 0 {
		return 0, false, false, badf("bad literal announcement")
	}
	d.pos = len(d.line)
	return n, sync, binary, nil
}

// cont sends the continuation request for a synchronizing literal, after
// checking n against the limit of SetLiteralLimit.
func (d *Decoder) cont(n int64, sync bool) error {
	if d.litLimit > 0 && n > d.litLimit {
		return &CommandError{Code: "LIMIT", Fatal: !sync,
			Msg: fmt.Sprintf("literal of %d bytes exceeds the limit of %d %s", n, d.litLimit, d.litLimitWhy)}
	}
	if !sync || d.opts.Continue == nil {
		return nil
	}
	if err := d.opts.Continue(n); err != nil {
		return fmt.Errorf("imapwire: continuation request: %w", err)
	}
	return nil
}

// literalString reads a literal used as a string argument: it is held in
// memory and counts against the command's text budget.
func (d *Decoder) literalString() (string, error) {
	b, err := d.literalBytes(false)
	if err != nil {
		return "", err
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "", badf("NUL byte in literal")
	}
	if len(b) == 0 {
		return "", nil
	}
	return unsafe.String(&b[0], len(b)), nil
}

// literalBytes reads a literal (with allowBinary also a literal8, which
// may hold NUL) into memory, counting it against the command's text
// budget, and goes on to the line after it.
func (d *Decoder) literalBytes(allowBinary bool) ([]byte, error) {
	n, sync, _, err := d.literalHeader(allowBinary)
	if err != nil {
		return nil, err
	}
	if n > d.maxText()-d.text || n > d.opts.MaxLiteral {
		return nil, tooBig("literal of %d bytes too large", n)
	}
	if err := d.cont(n, sync); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, fmt.Errorf("imapwire: reading literal: %w", unexpected(err))
	}
	d.litPending = false
	d.text += n
	if err := d.nextLine(); err != nil {
		return nil, err
	}
	return b, nil
}

// number64 reads a number (RFC 9051 9, "number64").
func (d *Decoder) number64() (uint64, error) {
	i := d.pos
	var n uint64
	for i < len(d.line) && '0' <= d.line[i] && d.line[i] <= '9' {
		c := uint64(d.line[i] - '0')
		if n > (math.MaxInt64-c)/10 {
			return 0, badf("number too large")
		}
		n = n*10 + c
		i++
	}
	if i == d.pos {
		return 0, badf("expected a number at %q", d.rest())
	}
	d.pos = i
	return n, nil
}

// number reads a 32-bit number.
func (d *Decoder) number() (uint32, error) {
	n, err := d.number64()
	if err != nil {
		return 0, err
	}
	if n > math.MaxUint32 {
		return 0, badf("number too large")
	}
	return uint32(n), nil
}

// nzNumber reads a non-zero 32-bit number.
func (d *Decoder) nzNumber() (uint32, error) {
	n, err := d.number()
	if err == nil && n == 0 {
		err = badf("zero where a non-zero number is required")
	}
	return n, err
}

// list reads "(" item *(SP item) ")", calling item for each; empty lists
// are allowed when empty is true.
func (d *Decoder) list(empty bool, item func() error) error {
	if err := d.expect('('); err != nil {
		return err
	}
	if d.peek() == ')' {
		d.pos++
		if !empty {
			return badf("empty list")
		}
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		switch d.peek() {
		case ')':
			d.pos++
			return nil
		case ' ':
			d.pos++
		default:
			return badf("expected \" \" or \")\" at %q", d.rest())
		}
	}
}
