package proxy

import (
	"bufio"
	"bytes"
	"errors"

	"github.com/dormouse/dormouse/imapwire"
)

// errLineTooLong says a line passed the proxy's bound (Limits.MaxLine).
var errLineTooLong = errors.New("line too long")

// lineReader reads IMAP lines with the literal announced at their end,
// for a relay that forwards bytes without parsing commands. Its state
// survives a read error (a deadline that stops it for a sleep): the part
// of a line read so far stays in line, the rest of a literal in litLeft.
type lineReader struct {
	r   *bufio.Reader
	max int
	// line is the line being read, up to and with its CRLF once whole.
	line []byte
	// litLeft is what remains of the literal announced by the last line.
	litLeft int64
}

// readLine reads the rest of the current line. A line longer than max
// is errLineTooLong.
func (l *lineReader) readLine() ([]byte, error) {
	for {
		frag, err := l.r.ReadSlice('\n')
		l.line = append(l.line, frag...)
		if len(l.line) > l.max {
			return nil, errLineTooLong
		}
		if err == nil {
			line := l.line
			l.line = l.line[:0]
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// idle reports whether nothing of the peer's input is held: no part of a
// line, no literal under way, nothing buffered.
func (l *lineReader) idle() bool {
	return len(l.line) == 0 && l.litLeft == 0 && l.r.Buffered() == 0
}

// literal returns the size of the literal announced at the end of line
// ({n}, {n+}, ~{n}; CRLF or not), whether it is synchronising, and ok
// false when the line announces none (imapwire.TrailingLiteral).
func literal(line []byte) (n int64, sync, ok bool) {
	return imapwire.TrailingLiteral(bytes.TrimRight(line, "\r\n"))
}

// tagAndName returns a command line's tag and upper-cased command name
// ("UID FETCH" is "UID").
func tagAndName(line []byte) (tag, name string) {
	line = bytes.TrimRight(line, "\r\n")
	t, rest, _ := bytes.Cut(line, []byte{' '})
	n, _, _ := bytes.Cut(rest, []byte{' '})
	return string(t), string(bytes.ToUpper(n))
}
