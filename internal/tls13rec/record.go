package tls13rec

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Record layer sizes and types (RFC 8446 5.1, 5.2, B.1).
const (
	headerLen     = 5
	nonceLen      = 12
	maxPlaintext  = 1 << 14     // TLSPlaintext.fragment and inner content
	maxCiphertext = 1<<14 + 256 // TLSCiphertext.encrypted_record
	maxRecord     = headerLen + maxCiphertext
	tagLen        = 16 // every TLS 1.3 AEAD's expansion

	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23

	handshakeKeyUpdate = 24
)

// keyUpdateAfter is the write sequence number at which a Conn rekeys
// before it writes on: far below the AES-GCM limit of RFC 8446 5.5
// (2^24.5 full records) and below 2^64, so a sequence number never
// wraps and never repeats under one key.
const keyUpdateAfter = 1 << 23

// Alert descriptions (RFC 8446 6).
const (
	alertCloseNotify       = 0
	alertUnexpectedMessage = 10
	alertBadRecordMAC      = 20
	alertRecordOverflow    = 22
	alertIllegalParameter  = 47
	alertDecodeError       = 50
	alertInternalError     = 80
	alertUserCanceled      = 90
)

// AlertError is a fatal record-layer error: the alert that was sent (or,
// with Received, that the peer sent).
type AlertError struct {
	Alert    uint8
	Received bool
	Reason   string
}

func (e *AlertError) Error() string {
	if e.Received {
		return fmt.Sprintf("tls13rec: peer sent alert %d", e.Alert)
	}
	return fmt.Sprintf("tls13rec: %s (alert %d)", e.Reason, e.Alert)
}

func alertf(alert uint8, format string, args ...any) *AlertError {
	return &AlertError{Alert: alert, Reason: fmt.Sprintf(format, args...)}
}

// errSeqExhausted says a direction used its last sequence number.
var errSeqExhausted = errors.New("tls13rec: sequence number exhausted")

// halfConn is one direction's record protection: the current traffic
// secret, its AEAD and IV, and the next sequence number. seq only grows:
// a record sealed or opened under a key is never sealed or opened again
// with the same number, whatever fails after.
type halfConn struct {
	suite  *suite
	secret []byte
	aead   cipher.AEAD
	iv     [nonceLen]byte
	seq    uint64
	// nonceBuf holds the nonce of the record being sealed or opened:
	// on the heap with the secret, since the AEAD (an interface) keeps
	// its arguments from living on the stack, and a nonce of its own
	// cost an allocation per record.
	nonceBuf []byte
}

func newHalfConn(s *suite, secret []byte, seq uint64) (halfConn, error) {
	if len(secret) != s.hashLen {
		return halfConn{}, fmt.Errorf("tls13rec: traffic secret of %d bytes for suite %#04x", len(secret), s.id)
	}
	a, iv, err := s.trafficKeys(secret)
	if err != nil {
		return halfConn{}, err
	}
	buf := make([]byte, len(secret)+nonceLen)
	copy(buf, secret)
	return halfConn{suite: s, secret: buf[:len(secret):len(secret)], aead: a, iv: iv, seq: seq, nonceBuf: buf[len(secret):]}, nil
}

// nonce is the per-record nonce: the IV XOR the sequence number (5.3),
// in h.nonceBuf.
func (h *halfConn) nonce(seq uint64) []byte {
	n := h.nonceBuf
	copy(n, h.iv[:])
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	for i := range s {
		n[nonceLen-8+i] ^= s[i]
	}
	return n
}

// update moves the direction to the next traffic secret ("traffic upd",
// 7.2) with sequence number 0 (KeyUpdate, 4.6.3).
func (h *halfConn) update() error {
	next, err := newHalfConn(h.suite, h.suite.nextSecret(h.secret), 0)
	if err != nil {
		return err
	}
	clear(h.secret)
	*h = next
	return nil
}

// seal appends one record of content type typ holding p (at most
// maxPlaintext bytes) to dst, with the next sequence number.
func (h *halfConn) seal(dst []byte, typ byte, p []byte) ([]byte, error) {
	if len(p) > maxPlaintext {
		return dst, fmt.Errorf("tls13rec: seal of %d bytes", len(p))
	}
	if h.seq == ^uint64(0) {
		return dst, errSeqExhausted
	}
	n := len(p) + 1 + tagLen
	start := len(dst)
	dst = slices.Grow(dst, headerLen+n)
	dst = append(dst, typeApplicationData, 3, 3, byte(n>>8), byte(n))
	// The inner plaintext is the content and its type, unpadded.
	dst = append(dst, p...)
	dst = append(dst, typ)
	nonce := h.nonce(h.seq)
	h.seq++
	// The header, before the body, is not overwritten.
	hdr := dst[start : start+headerLen]
	body := dst[start+headerLen:]
	sealed := h.aead.Seal(body[:0], nonce, body, hdr)
	return dst[:start+headerLen+len(sealed)], nil
}

// open decrypts one whole record rec (header included) in place with the
// next sequence number and returns its inner content type and content,
// padding removed; the sequence number advances only when it opens.
func (h *halfConn) open(rec []byte) (byte, []byte, error) {
	if len(rec) < headerLen {
		return 0, nil, alertf(alertDecodeError, "short record")
	}
	typ, plain, err := h.openTo(rec[headerLen:headerLen], rec)
	return typ, plain, err
}

// openTo is open with the content appended to dst instead of decrypted
// in place: rec is left as it came. It returns dst with the content
// appended (the inner type and padding not), or dst as it was on error.
func (h *halfConn) openTo(dst, rec []byte) (byte, []byte, error) {
	if len(rec) < headerLen {
		return 0, dst, alertf(alertDecodeError, "short record")
	}
	if rec[0] != typeApplicationData {
		return 0, dst, alertf(alertUnexpectedMessage, "unprotected record of type %d after the handshake", rec[0])
	}
	n := int(binary.BigEndian.Uint16(rec[3:5]))
	if n > maxCiphertext {
		return 0, dst, alertf(alertRecordOverflow, "record of %d bytes", n)
	}
	if len(rec) != headerLen+n {
		return 0, dst, alertf(alertDecodeError, "record length %d for %d bytes", n, len(rec)-headerLen)
	}
	if h.seq == ^uint64(0) {
		return 0, dst, errSeqExhausted
	}
	nonce := h.nonce(h.seq)
	out, err := h.aead.Open(dst, nonce, rec[headerLen:], rec[:headerLen])
	if err != nil {
		return 0, dst, alertf(alertBadRecordMAC, "record does not authenticate")
	}
	h.seq++
	plain := out[len(dst):]
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, dst, alertf(alertUnexpectedMessage, "record without a content type")
	}
	if i > maxPlaintext {
		return 0, dst, alertf(alertRecordOverflow, "inner plaintext of %d bytes", i)
	}
	return plain[i], out[:len(dst)+i], nil
}

// recordLen returns the length of the record at the start of b (header
// included), or 0 when its header has not arrived; a header announcing
// more than a TLS 1.3 record may hold is an error.
func recordLen(b []byte) (int, error) {
	if len(b) < headerLen {
		return 0, nil
	}
	n := int(binary.BigEndian.Uint16(b[3:5]))
	if n > maxCiphertext {
		return 0, alertf(alertRecordOverflow, "record of %d bytes", n)
	}
	return headerLen + n, nil
}
