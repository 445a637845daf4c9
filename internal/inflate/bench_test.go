package inflate

import (
	"bytes"
	"compress/flate"
	"math/rand/v2"
	"testing"
)

// benchStream is about 1 MB of IMAP-like text compressed by compress/flate
// at its default level, sync-flushed every 4 KiB.
func benchStream(b *testing.B) (z, plain []byte) {
	rng := rand.New(rand.NewPCG(5, 6))
	var texts [][]byte
	for len(plain) < 1<<20 {
		t := randomText(rng, 4096)
		texts = append(texts, t)
		plain = append(plain, t...)
	}
	for _, s := range goSegments(b, flate.DefaultCompression, texts) {
		z = append(z, s.z...)
	}
	return z, plain
}

// BenchmarkReader decodes benchStream with a Reader; BenchmarkStdlib with
// compress/flate, for comparison.
func BenchmarkReader(b *testing.B) {
	z, plain := benchStream(b)
	b.SetBytes(int64(len(plain)))
	buf := make([]byte, 32<<10)
	for b.Loop() {
		r := NewReader(bytes.NewReader(z), nil)
		n := 0
		for {
			k, err := r.Read(buf)
			n += k
			if err != nil {
				break
			}
		}
		if n != len(plain) {
			b.Fatalf("%d bytes, want %d", n, len(plain))
		}
	}
}

func BenchmarkStdlib(b *testing.B) {
	z, plain := benchStream(b)
	b.SetBytes(int64(len(plain)))
	buf := make([]byte, 32<<10)
	for b.Loop() {
		r := flate.NewReader(bytes.NewReader(z))
		n := 0
		for {
			k, err := r.Read(buf)
			n += k
			if err != nil {
				break
			}
		}
		if n != len(plain) {
			b.Fatalf("%d bytes, want %d", n, len(plain))
		}
	}
}
