package imapserver

import (
	"crypto/tls"
	"reflect"
)

// tlsPending reports whether c holds input above its socket: decrypted
// application data not yet read, or raw record bytes (a complete record
// read together with an earlier one, or the start of one). Such input is
// invisible to the poller, which watches only the socket, so a
// connection with any must not sleep on it: the wake would never come
// (or, for a partial record, the session would rest on state it cannot
// see).
//
// crypto/tls has no API for this; the lengths are read with reflect from
// the unexported fields rawInput, input and hand (read only, no unsafe).
// If a Go release renames them, tlsPending says true, which keeps TLS
// sessions active (reason "tls_pending") rather than risking a lost
// wake; TestTLSPending fails then, so the change is seen.
func tlsPending(c *tls.Conn) bool {
	v := reflect.ValueOf(c).Elem()
	for _, name := range [...]string{"rawInput", "hand"} {
		n, ok := bufferLen(v.FieldByName(name))
		if !ok || n > 0 {
			return true
		}
	}
	n, ok := readerLen(v.FieldByName("input"))
	return !ok || n > 0
}

// bufferLen is the length of a bytes.Buffer value (len(buf) - off).
func bufferLen(b reflect.Value) (int, bool) {
	if !b.IsValid() || b.Kind() != reflect.Struct {
		return 0, false
	}
	buf, off := b.FieldByName("buf"), b.FieldByName("off")
	if !buf.IsValid() || buf.Kind() != reflect.Slice || !off.IsValid() || off.Kind() != reflect.Int {
		return 0, false
	}
	return buf.Len() - int(off.Int()), true
}

// readerLen is the unread length of a bytes.Reader value (len(s) - i).
func readerLen(r reflect.Value) (int, bool) {
	if !r.IsValid() || r.Kind() != reflect.Struct {
		return 0, false
	}
	s, i := r.FieldByName("s"), r.FieldByName("i")
	if !s.IsValid() || s.Kind() != reflect.Slice || !i.IsValid() || i.Kind() != reflect.Int64 {
		return 0, false
	}
	return s.Len() - int(i.Int()), true
}
