package imapserver

import (
	"bytes"

	"github.com/dormouse/dormouse/imapwire"
)

// answerAsleep gives what an active session would write for in, the
// client's bytes to a sleeper, when it is one of the forms a sleeper
// answers itself (RFC 2177 asks clients to renew IDLE every 29 minutes):
// while idling (idleTag set), DONE alone or DONE followed by a new
// "tag IDLE"; between commands (idleTag empty, after a DONE answered
// asleep), "tag IDLE" alone. Lines end in CRLF (or a bare LF, which the
// decoder takes too), are case-insensitive as the decoder reads them,
// and nothing may follow. newTag is the IDLE in progress afterwards
// ("" between commands). Anything else, a partial line included, is for
// a full wake.
func answerAsleep(idleTag string, in []byte) (out []byte, newTag string, ok bool) {
	rest := in
	if idleTag != "" {
		var done []byte
		done, rest, ok = cutLine(in)
		if !ok || !bytes.EqualFold(done, []byte("DONE")) {
			return nil, "", false
		}
		out = appendIdleDone(out, idleTag)
		if len(rest) == 0 {
			return out, "", true
		}
	}
	cmd, rest, ok := cutLine(rest)
	if !ok || len(rest) != 0 {
		return nil, "", false
	}
	tag, name, ok := bytes.Cut(cmd, []byte{' '})
	if !ok || !imapwire.ValidTag(tag) || !bytes.EqualFold(name, []byte("IDLE")) {
		return nil, "", false
	}
	return append(out, lineIdling...), string(tag), true
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
