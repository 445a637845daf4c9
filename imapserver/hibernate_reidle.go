package imapserver

import (
	"bytes"

	"github.com/dormouse/dormouse/imapwire"
)

// reidleTag reports whether in is exactly what a client sends to renew
// its IDLE (RFC 2177 asks for it every 29 minutes): DONE, then a complete
// "tag IDLE" command, each line ended by CRLF (or a bare LF, which the
// decoder takes too), case-insensitive as the decoder reads them, with
// nothing after. It returns the new IDLE's tag. Anything else, a partial
// line included, is for a full wake.
func reidleTag(in []byte) (string, bool) {
	done, rest, ok := cutLine(in)
	if !ok || !bytes.EqualFold(done, []byte("DONE")) {
		return "", false
	}
	cmd, rest, ok := cutLine(rest)
	if !ok || len(rest) != 0 {
		return "", false
	}
	tag, name, ok := bytes.Cut(cmd, []byte{' '})
	if !ok || !validTag(tag) || !bytes.EqualFold(name, []byte("IDLE")) {
		return "", false
	}
	return string(tag), true
}

// cutLine splits off the first line of b without its LF or CRLF; false
// when b holds no complete line.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, b, false
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest, true
}

// validTag reports a tag as the decoder accepts it (RFC 9051 9: tag =
// 1*<any ASTRING-CHAR except "+">).
func validTag(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c == '+' || (c != ']' && !imapwire.IsAtomChar(c)) {
			return false
		}
	}
	return true
}
