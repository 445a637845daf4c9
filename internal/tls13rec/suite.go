package tls13rec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// The TLS 1.3 cipher suites (RFC 8446 B.4) crypto/tls negotiates.
const (
	TLS_AES_128_GCM_SHA256       uint16 = 0x1301
	TLS_AES_256_GCM_SHA384       uint16 = 0x1302
	TLS_CHACHA20_POLY1305_SHA256 uint16 = 0x1303
)

// suite describes one cipher suite: its hash (for HKDF: SHA-256, or
// SHA-384 when hashLen says so) and AEAD.
type suite struct {
	id      uint16
	hashLen int
	keyLen  int
	aead    func(key []byte) (cipher.AEAD, error)
}

var suites = [...]suite{
	{TLS_AES_128_GCM_SHA256, sha256.Size, 16, aeadGCM},
	{TLS_AES_256_GCM_SHA384, sha512.Size384, 32, aeadGCM},
	{TLS_CHACHA20_POLY1305_SHA256, sha256.Size, chacha20poly1305.KeySize, chacha20poly1305.New},
}

// maxHashLen is the longest hash of a suite (SHA-384's).
const maxHashLen = sha512.Size384

func aeadGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// suiteByID returns the suite with TLS identifier id.
func suiteByID(id uint16) (*suite, error) {
	for i := range suites {
		if suites[i].id == id {
			return &suites[i], nil
		}
	}
	return nil, fmt.Errorf("tls13rec: cipher suite %#04x is not a TLS 1.3 suite", id)
}

// expandLabel is HKDF-Expand-Label (RFC 8446 7.1) with an empty context,
// the only kind the traffic keys and "traffic upd" use, for n bytes (at
// most one hash long: keys, IVs, secrets).
func (s *suite) expandLabel(secret []byte, label string, n int) []byte {
	out := make([]byte, n)
	s.expandLabelTo(out, secret, label)
	return out
}

// maxLabel is the longest label expandLabelTo takes ("traffic upd" is
// the longest used).
const maxLabel = 16

// expandLabelTo is expandLabel into out, without allocating: a TLS 1.3
// sleeper derives its keys again on every read and write asleep, and
// crypto/hkdf (a keyed crypto/hmac) allocates two hash states and their
// pads per call (a third of a sleeping fleet's allocation). It is
// HKDF-Expand's first block, T(1) = HMAC(secret, HkdfLabel || 0x01)
// (RFC 5869 2.3), enough for any output up to a hash long, computed by
// the definition of HMAC (RFC 2104) on the stack; the secret, one hash
// long, is shorter than the hash's block.
func (s *suite) expandLabelTo(out, secret []byte, label string) {
	if len(out) > s.hashLen || len(label) > maxLabel || len(secret) > s.hashLen {
		panic("tls13rec: expandLabelTo out of range")
	}
	var info [4 + 6 + maxLabel + 1]byte
	msg := binary.BigEndian.AppendUint16(info[:0], uint16(len(out)))
	msg = append(msg, byte(6+len(label)))
	msg = append(msg, "tls13 "...)
	msg = append(msg, label...)
	msg = append(msg, 0, 1) // context: empty; then HKDF's block counter
	t := s.hmac(secret, msg)
	copy(out, t[:])
}

// hmac is HMAC (RFC 2104) with s's hash of msg (at most maxHashLen bytes)
// under key (no longer than a block), on the stack.
func (s *suite) hmac(key, msg []byte) [maxHashLen]byte {
	block := sha256.BlockSize
	if s.hashLen == sha512.Size384 {
		block = sha512.BlockSize
	}
	var buf [sha512.BlockSize + maxHashLen]byte
	pad := buf[:block]
	copy(pad, key)
	for i := range pad {
		pad[i] ^= 0x36
	}
	inner := s.sum(buf[:block+copy(buf[block:], msg)])
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	return s.sum(buf[:block+copy(buf[block:], inner[:s.hashLen])])
}

// sum is s's hash of p.
func (s *suite) sum(p []byte) (out [maxHashLen]byte) {
	if s.hashLen == sha512.Size384 {
		return sha512.Sum384(p)
	}
	h := sha256.Sum256(p)
	copy(out[:], h[:])
	return out
}

// trafficKeys derives the write key and IV of a traffic secret (RFC 8446 7.3).
func (s *suite) trafficKeys(secret []byte) (cipher.AEAD, [nonceLen]byte, error) {
	var iv [nonceLen]byte
	s.expandLabelTo(iv[:], secret, "iv")
	var key [32]byte
	s.expandLabelTo(key[:s.keyLen], secret, "key")
	a, err := s.aead(key[:s.keyLen])
	if err != nil {
		return nil, iv, fmt.Errorf("tls13rec: traffic key: %w", err)
	}
	return a, iv, nil
}

// nextSecret is application_traffic_secret_N+1 (RFC 8446 7.2).
func (s *suite) nextSecret(secret []byte) []byte {
	return s.expandLabel(secret, "traffic upd", s.hashLen)
}
