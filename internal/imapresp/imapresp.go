// Package imapresp reads IMAP server responses for Dormouse's hand-written
// clients: the test server's client (internal/testserver) and the bench
// tools (bench/torture, bench/compare, bench/hostile). It knows only the
// framing of a response (RFC 9051 2.2.2, 4.3): lines ending in CRLF, and a
// literal announced by "{n}" (or "~{n}", "{n+}") at the end of a line,
// whose n bytes come after that line's CRLF, followed by the rest of the
// response.
package imapresp

import (
	"bufio"
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
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return b.String() + line, err
		}
		if !strings.HasSuffix(line, "\r\n") {
			return b.String() + line, fmt.Errorf("line without CR: %q", line)
		}
		line = line[:len(line)-2]
		b.WriteString(line)
		n, ok := LiteralSize(line)
		if !ok {
			return b.String(), nil
		}
		b.WriteString("\r\n")
		if _, err := io.CopyN(&b, br, n); err != nil {
			return b.String(), fmt.Errorf("literal of %d bytes: %w", n, err)
		}
	}
}
