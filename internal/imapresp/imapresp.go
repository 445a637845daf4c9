// Package imapresp reads IMAP server responses for Dormouse's raw clients
// (internal/imaptest, which the tests, the torture tool and the bench
// tools share, and bench/compare). It knows only the framing of a response
// (RFC 9051 2.2.2, 4.3): lines ending in CRLF, and a literal announced by
// "{n}" (or "~{n}", "{n+}") at the end of a line, whose n bytes come after
// that line's CRLF, followed by the rest of the response.
package imapresp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// LiteralSize reports whether line, without its CRLF, ends in a literal
// announcement "{n}" or "{n+}" ("~{n}" for a binary literal), and n.
func LiteralSize(line string) (int64, bool) {
	if !strings.HasSuffix(line, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(line[i+1:len(line)-1], "+"), 10, 63)
	if err != nil {
		return 0, false
	}
	return int64(n), true
}

// Read reads one whole response from br: its lines without their final
// CRLF, each literal read with them, so a response with literals comes
// back as one string with CRLFs inside ("* 1 FETCH (BODY[] {2}\r\nhi)").
// A line not ending in CRLF is an error (the server broke the framing).
// Read does not bound the size of a response: its callers are clients of
// servers under test, with deadlines on their connections.
func Read(br *bufio.Reader) (string, error) {
	s, _, err := ReadBounded(br, 0)
	return s, err
}

// tailLen is how many bytes of a line's end ReadBounded keeps to find a
// literal announcement in a line it does not keep whole: "{" and 19
// digits, "+}" and the CRLF.
const tailLen = 24

// ReadBounded is Read for responses that may be huge (a hostile probe's,
// a benchmark's FETCH of whole mailboxes): it keeps at most keep bytes of
// the response's text (keep <= 0: all of it); a literal that does not fit
// is read and dropped, and so is the rest of a line. It returns what it
// kept and how many bytes it read.
func ReadBounded(br *bufio.Reader, keep int) (string, int64, error) {
	var b []byte
	var read int64
	room := func() int64 {
		if keep <= 0 {
			return 1<<63 - 1
		}
		return int64(keep - len(b))
	}
	for {
		var tail []byte
		for {
			frag, err := br.ReadSlice('\n')
			read += int64(len(frag))
			b = append(b, frag[:min(int64(len(frag)), max(room(), 0))]...)
			tail = append(tail, frag[max(0, len(frag)-tailLen):]...)
			if len(tail) > tailLen {
				tail = append(tail[:0], tail[len(tail)-tailLen:]...)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				return string(b), read, err
			}
			break
		}
		if !bytes.HasSuffix(tail, []byte("\r\n")) {
			return string(b), read, fmt.Errorf("line without CR: %q", tail)
		}
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		n, ok := LiteralSize(string(tail[:len(tail)-2]))
		if !ok {
			return string(b), read, nil
		}
		if room() >= 2 {
			b = append(b, "\r\n"...)
		}
		if room() < n {
			m, err := br.Discard(int(n))
			read += int64(m)
			if err != nil {
				return string(b), read, fmt.Errorf("literal of %d bytes: %w", n, err)
			}
			continue
		}
		// Copied rather than allocated at once: n is the server's word.
		buf := bytes.NewBuffer(b)
		m, err := io.CopyN(buf, br, n)
		b = buf.Bytes()
		read += m
		if err != nil {
			return string(b), read, fmt.Errorf("literal of %d bytes: %w", n, err)
		}
	}
}
