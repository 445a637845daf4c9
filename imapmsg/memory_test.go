package imapmsg

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// writeLargeMessage writes a multipart/mixed message of about total
// octets, most of it a base64 attachment, and returns its path and the
// attachment's decoded size.
func writeLargeMessage(t testing.TB, total int) (string, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "large.eml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	fmt.Fprint(w, "From: big@example.com\r\nTo: you@example.com\r\nSubject: big one\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_big\"\r\n\r\n"+
		"--=_big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"+
		"--=_big\r\nContent-Type: application/octet-stream; name=big.bin\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n")
	rng := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, 57) // one 76-character line of base64
	line := make([]byte, 76, 78)
	var decoded int64
	for written := 0; written < total; written += 78 {
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		base64.StdEncoding.Encode(line[:76], raw)
		w.Write(append(line[:76], '\r', '\n'))
		decoded += int64(len(raw))
	}
	fmt.Fprint(w, "--=_big--\r\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, decoded
}

// TestLargeMessageMemory parses a 50 MiB message and decodes its
// attachment's size: the allocations must stay far below the message size
// (buffers only, RFC 3516 BINARY.SIZE computed by streaming).
func TestLargeMessageMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50 MiB")
	}
	path, decoded := writeLargeMessage(t, 50<<20)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	m, err := Parse(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	_, size, _, err := m.Binary([]int{2})
	if err != nil {
		t.Fatal(err)
	}
	found := m.BodyContains("attached")

	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("message %d octets, allocated %d bytes, %d objects", st.Size(), allocated, after.Mallocs-before.Mallocs)
	if size != decoded {
		t.Errorf("BINARY.SIZE %d, want %d", size, decoded)
	}
	if !found {
		t.Error("BodyContains missed the text part")
	}
	if limit := uint64(1 << 20); allocated > limit {
		t.Errorf("allocated %d bytes for a %d-octet message, limit %d", allocated, st.Size(), limit)
	}
}
