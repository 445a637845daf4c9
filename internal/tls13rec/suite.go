package tls13rec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// The TLS 1.3 cipher suites (RFC 8446 B.4) crypto/tls negotiates.
const (
	TLS_AES_128_GCM_SHA256       uint16 = 0x1301
	TLS_AES_256_GCM_SHA384       uint16 = 0x1302
	TLS_CHACHA20_POLY1305_SHA256 uint16 = 0x1303
)

// suite describes one cipher suite: its hash (for HKDF) and AEAD.
type suite struct {
	id      uint16
	hashLen int
	keyLen  int
	hash    func() hash.Hash
	aead    func(key []byte) (cipher.AEAD, error)
}

var suites = [...]suite{
	{TLS_AES_128_GCM_SHA256, sha256.Size, 16, sha256.New, aeadGCM},
	{TLS_AES_256_GCM_SHA384, sha512.Size384, 32, sha512.New384, aeadGCM},
	{TLS_CHACHA20_POLY1305_SHA256, sha256.Size, chacha20poly1305.KeySize, sha256.New, chacha20poly1305.New},
}

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
// the only kind the traffic keys and "traffic upd" use.
func (s *suite) expandLabel(secret []byte, label string, n int) []byte {
	info := make([]byte, 0, 4+6+len(label))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0) // context: empty
	out, err := hkdf.Expand(s.hash, secret, string(info), n)
	if err != nil {
		// Only a length beyond 255 hash lengths fails.
		panic(err)
	}
	return out
}

// trafficKeys derives the write key and IV of a traffic secret (RFC 8446 7.3).
func (s *suite) trafficKeys(secret []byte) (cipher.AEAD, [nonceLen]byte, error) {
	var iv [nonceLen]byte
	copy(iv[:], s.expandLabel(secret, "iv", nonceLen))
	a, err := s.aead(s.expandLabel(secret, "key", s.keyLen))
	if err != nil {
		return nil, iv, fmt.Errorf("tls13rec: traffic key: %w", err)
	}
	return a, iv, nil
}

// nextSecret is application_traffic_secret_N+1 (RFC 8446 7.2).
func (s *suite) nextSecret(secret []byte) []byte {
	return s.expandLabel(secret, "traffic upd", s.hashLen)
}
