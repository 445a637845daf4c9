package tls13rec

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"math/rand/v2"
	"testing"
)

// TestExpandLabelIsHKDF checks expandLabelTo, HMAC computed on the stack,
// against crypto/hkdf's HKDF-Expand of the same HkdfLabel, for every
// suite, the labels used and every output length up to a hash.
func TestExpandLabelIsHKDF(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range suites {
		s := &suites[i]
		h := map[int]func() hash.Hash{sha256.Size: sha256.New, sha512.Size384: sha512.New384}[s.hashLen]
		for _, label := range []string{"key", "iv", "traffic upd", ""} {
			for n := 1; n <= s.hashLen; n++ {
				secret := make([]byte, s.hashLen)
				for j := range secret {
					secret[j] = byte(rng.Uint32())
				}
				info := binary.BigEndian.AppendUint16(nil, uint16(n))
				info = append(info, byte(6+len(label)))
				info = append(info, "tls13 "+label...)
				info = append(info, 0)
				want, err := hkdf.Expand(h, secret, string(info), n)
				if err != nil {
					t.Fatal(err)
				}
				if got := s.expandLabel(secret, label, n); !bytes.Equal(got, want) {
					t.Fatalf("suite %#04x, %q, %d bytes: %x, want %x", s.id, label, n, got, want)
				}
			}
		}
	}
}

// TestKeysAllocateOnlyTheAEAD: deriving a direction's keys (what a TLS
// 1.3 sleeper does on every read and write asleep) allocates nothing but
// the AEAD and the kept secret; HKDF through crypto/hmac took 14 more
// allocations per direction.
func TestKeysAllocateOnlyTheAEAD(t *testing.T) {
	for i := range suites {
		s := &suites[i]
		t.Run(fmt.Sprintf("%#04x", s.id), func(t *testing.T) {
			secret := bytes.Repeat([]byte{7}, s.hashLen)
			var out [nonceLen]byte
			if n := testing.AllocsPerRun(100, func() { s.expandLabelTo(out[:], secret, "iv") }); n != 0 {
				t.Errorf("expandLabelTo: %v allocations", n)
			}
			aead := testing.AllocsPerRun(100, func() {
				if _, err := s.aead(make([]byte, s.keyLen)); err != nil {
					t.Fatal(err)
				}
			})
			// The AEAD with its key (which escapes into it), and
			// the direction's copy of the secret.
			if n := testing.AllocsPerRun(100, func() {
				if _, err := newHalfConn(s, secret, 1); err != nil {
					t.Fatal(err)
				}
			}); n > aead+1 {
				t.Errorf("newHalfConn: %v allocations, the AEAD alone %v", n, aead)
			}
		})
	}
}

// TestOpenDataInPlace: a sleeper opening what its client sent leaves the
// raw records as they came (it holds them for their rest, or hands them
// to a full wake) and allocates only its read direction's keys: no copy
// of each record, no nonce. Sealing, likewise, only the write keys.
func TestOpenDataInPlace(t *testing.T) {
	for _, id := range []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256} {
		st, mirror := testState(t, id)
		var raw []byte
		for _, cmd := range []string{"DONE\r\n", "a1 NOOP\r\n"} {
			var err error
			if raw, err = mirror.Seal(raw, []byte(cmd)); err != nil {
				t.Fatal(err)
			}
		}
		orig := bytes.Clone(raw)
		dst := make([]byte, 0, 64)
		s := st
		got, used, err := s.OpenData(dst, raw)
		if err != nil || used != len(raw) || string(got) != "DONE\r\na1 NOOP\r\n" || !bytes.Equal(raw, orig) {
			t.Fatalf("suite %#04x: OpenData = %q, %d, %v; raw changed: %v", id, got, used, err, !bytes.Equal(raw, orig))
		}
		keys := testing.AllocsPerRun(50, func() {
			if _, err := st.reader(); err != nil {
				t.Fatal(err)
			}
		})
		if n := testing.AllocsPerRun(50, func() {
			s := st
			s.OpenData(dst, raw)
		}); n > keys {
			t.Errorf("suite %#04x: OpenData of two records: %v allocations, its keys %v", id, n, keys)
		}
		out := make([]byte, 0, 256)
		if n := testing.AllocsPerRun(50, func() {
			s := st
			s.Seal(out, []byte("* OK Still here\r\n"))
		}); n > keys {
			t.Errorf("suite %#04x: Seal: %v allocations, its keys %v", id, n, keys)
		}
	}
}
