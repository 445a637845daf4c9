package tls13rec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// State is the record state of a TLS 1.3 connection after its
// handshake: what a hibernated connection keeps (about 75 bytes encoded
// with a SHA-256 suite). Read is the client's direction (we open),
// Write ours (we seal); each has its current application traffic secret
// and the sequence number of its next record.
type State struct {
	Suite       uint16
	ReadSecret  []byte
	ReadSeq     uint64
	WriteSecret []byte
	WriteSeq    uint64
}

// stateVersion is the first byte of AppendBinary's form.
const stateVersion = 1

// errState says an encoded State does not decode.
var errState = errors.New("tls13rec: corrupt record state")

// AppendBinary appends st's compact form: version, suite, the two
// sequence numbers as uvarints, then the two secrets (their length is
// the suite's hash length).
func (st *State) AppendBinary(b []byte) ([]byte, error) {
	s, err := suiteByID(st.Suite)
	if err != nil {
		return b, err
	}
	if len(st.ReadSecret) != s.hashLen || len(st.WriteSecret) != s.hashLen {
		return b, fmt.Errorf("%w: secret lengths %d, %d", errState, len(st.ReadSecret), len(st.WriteSecret))
	}
	b = append(b, stateVersion)
	b = binary.BigEndian.AppendUint16(b, st.Suite)
	b = binary.AppendUvarint(b, st.ReadSeq)
	b = binary.AppendUvarint(b, st.WriteSeq)
	b = append(b, st.ReadSecret...)
	return append(b, st.WriteSecret...), nil
}

// UnmarshalBinary decodes AppendBinary's form, as input from outside.
func (st *State) UnmarshalBinary(b []byte) error {
	if len(b) < 3 || b[0] != stateVersion {
		return errState
	}
	id := binary.BigEndian.Uint16(b[1:3])
	s, err := suiteByID(id)
	if err != nil {
		return fmt.Errorf("%w: %w", errState, err)
	}
	b = b[3:]
	rs, n := binary.Uvarint(b)
	if n <= 0 {
		return errState
	}
	b = b[n:]
	ws, n := binary.Uvarint(b)
	if n <= 0 {
		return errState
	}
	b = b[n:]
	if len(b) != 2*s.hashLen {
		return errState
	}
	*st = State{
		Suite:       id,
		ReadSecret:  append([]byte(nil), b[:s.hashLen]...),
		ReadSeq:     rs,
		WriteSecret: append([]byte(nil), b[s.hashLen:]...),
		WriteSeq:    ws,
	}
	return nil
}

// reader returns st's read direction, ready to open.
func (st *State) reader() (halfConn, error) {
	s, err := suiteByID(st.Suite)
	if err != nil {
		return halfConn{}, err
	}
	return newHalfConn(s, st.ReadSecret, st.ReadSeq)
}

// writer returns st's write direction, ready to seal.
func (st *State) writer() (halfConn, error) {
	s, err := suiteByID(st.Suite)
	if err != nil {
		return halfConn{}, err
	}
	return newHalfConn(s, st.WriteSecret, st.WriteSeq)
}

// halves returns st's two directions, ready to open and seal.
func (st *State) halves() (in, out halfConn, err error) {
	if in, err = st.reader(); err != nil {
		return in, out, err
	}
	out, err = st.writer()
	return in, out, err
}

// Seal appends p to dst as application-data records sealed with st's
// write key, advancing st.WriteSeq: what a hibernated connection says
// (a keepalive, an update, a BYE), without a Conn. The caller must not
// seal with an older copy of st again.
func (st *State) Seal(dst, p []byte) ([]byte, error) {
	out, err := st.writer()
	if err != nil {
		return dst, err
	}
	dst, err = sealAll(&out, dst, typeApplicationData, p)
	st.WriteSeq = out.seq
	return dst, err
}

// CloseNotify appends a close_notify alert sealed with st's write key.
func (st *State) CloseNotify(dst []byte) ([]byte, error) {
	out, err := st.writer()
	if err != nil {
		return dst, err
	}
	dst, err = out.seal(dst, typeAlert, []byte{1, alertCloseNotify})
	st.WriteSeq = out.seq
	return dst, err
}

// OpenData opens the whole application-data records at the start of raw
// with st's read key, advancing st.ReadSeq, and appends their content to
// dst: what a hibernated connection reads without a Conn. It stops at
// the first record that is incomplete, or that is not application data
// or does not open (a KeyUpdate, an alert, an error: for a Conn after a
// full wake to handle); used is how many bytes of raw it consumed. raw
// is left as it came.
func (st *State) OpenData(dst, raw []byte) (out []byte, used int, err error) {
	in, err := st.reader()
	if err != nil {
		return dst, 0, err
	}
	for {
		n, err := recordLen(raw[used:])
		if err != nil || n == 0 || used+n > len(raw) {
			return dst, used, nil
		}
		rec := raw[used : used+n]
		if rec[0] != typeApplicationData {
			return dst, used, nil
		}
		h := in
		typ, next, err := h.openTo(dst, rec)
		if err != nil || typ != typeApplicationData {
			return dst, used, nil
		}
		in = h
		st.ReadSeq = in.seq
		dst = next
		used += n
	}
}

// Closing reports whether the first record of raw, whole, opens with
// st's read key at its next sequence number as an alert that ends the
// connection, as a Conn's Read treats it: close_notify or any alert
// but user_canceled (RFC 8446 6: the others are errors, and a
// close_notify follows user_canceled). A hibernated connection that
// reads one closes without a Conn: nothing after it is read, so st is
// left as it was.
func (st *State) Closing(raw []byte) bool {
	n, err := recordLen(raw)
	if err != nil || n == 0 || n > len(raw) || raw[0] != typeApplicationData {
		return false
	}
	in, err := st.reader()
	if err != nil {
		return false
	}
	typ, content, err := in.open(append([]byte(nil), raw[:n]...))
	if err != nil || typ != typeAlert || len(content) != 2 {
		return false
	}
	return content[1] != alertUserCanceled
}

// Partial reports whether raw, not empty, is the start of one record
// whose rest has not arrived: shorter than a header, or than the length
// its header announces (one a TLS 1.3 record may have). A hibernated
// connection that read only this much can wait for the rest.
func Partial(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	n, err := recordLen(raw)
	return err == nil && (n == 0 || n > len(raw))
}

// sealAll appends p to dst as records of type typ of at most
// maxPlaintext bytes each (one empty record for an empty p).
func sealAll(h *halfConn, dst []byte, typ byte, p []byte) ([]byte, error) {
	for first := true; first || len(p) > 0; first = false {
		n := min(len(p), maxPlaintext)
		var err error
		if dst, err = h.seal(dst, typ, p[:n]); err != nil {
			return dst, err
		}
		p = p[n:]
	}
	return dst, nil
}
