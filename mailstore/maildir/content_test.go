package maildir

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// toCRLF is the reference conversion.
func toCRLF(b []byte) []byte {
	var out []byte
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// TestContentCRLF reads bare-LF files dropped by an MDA through Open, with
// Read and with ReadAt at random offsets, against a reference conversion.
func TestContentCRLF(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	mk := func(n int, crlfShare float64) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			line := make([]byte, rng.Intn(120))
			for i := range line {
				line[i] = byte('a' + rng.Intn(26))
			}
			b.Write(line)
			if rng.Float64() < crlfShare {
				b.WriteString("\r\n")
			} else {
				b.WriteString("\n")
			}
		}
		return b.Bytes()
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"no newline", []byte("x")},
		{"lf only", []byte("\n\n\n")},
		{"cr then lf", []byte("a\r\nb\nc\r\r\n\n")},
		{"mixed 300k", mk(300<<10, 0.3)},
		{"bare lf 8M", mk(8<<20, 0)},
		{"crlf 1M", mk(1<<20, 1)},
	}
	s, root := testStore(t, Options{})
	u := testUser(t, s, "jo")
	m := testMailbox(t, u, "INBOX")
	newDir := filepath.Join(root, "users/jo/Maildir/new")
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Written in tmp/ and renamed into new/, as an MDA does: a file
			// written in place could be indexed while half written.
			base := "17000000" + string(rune('0'+i)) + ".test"
			tmp := filepath.Join(filepath.Dir(newDir), "tmp", base)
			if err := os.WriteFile(tmp, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(newDir, base)); err != nil {
				t.Fatal(err)
			}
			// The open handle's watcher indexes the file; wait for it.
			want := toCRLF(tc.data)
			var uid uint32
			for try := 0; try < 100 && uid == 0; try++ {
				v, _ := m.View(context.Background(), false)
				if len(v.Messages) > i {
					uid = v.Messages[i].UID
					if v.Messages[i].Size != int64(len(want)) {
						t.Fatalf("size %d, want %d", v.Messages[i].Size, len(want))
					}
				} else {
					sleepMs(10)
				}
			}
			if uid == 0 {
				t.Fatal("file not indexed")
			}
			c, err := m.Open(context.Background(), uid)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Read: %d bytes (want %d), err %v", len(got), len(want), err)
			}
			for k := 0; k < 200 && len(want) > 0; k++ {
				off := rng.Int63n(int64(len(want)))
				buf := make([]byte, rng.Intn(5000)+1)
				n, err := c.ReadAt(buf, off)
				end := off + int64(len(buf))
				if end > int64(len(want)) {
					end = int64(len(want))
				}
				if !bytes.Equal(buf[:n], want[off:end]) || (n < len(buf) && err != io.EOF) {
					t.Fatalf("ReadAt(%d, %d): n=%d err=%v mismatch", len(buf), off, n, err)
				}
			}
		})
	}
}

// TestBigMessageStreams appends a 50 MiB bare-LF message and reads it back
// without the heap growing anywhere near the message size.
func TestBigMessageStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MiB message")
	}
	s, _ := testStore(t, Options{NoSync: true})
	u := testUser(t, s, "big")
	m := testMailbox(t, u, "INBOX")
	line := bytes.Repeat([]byte("0123456789"), 7)
	line = append(line, '\n')
	const size = 50 << 20
	lines := size / len(line)
	body := bytes.NewReader(bytes.Repeat(line, lines))
	ctx := context.Background()
	uid, err := m.Append(ctx, body, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c, err := m.Open(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Size() != int64(lines*(len(line)+1)) {
		t.Fatalf("size %d", c.Size())
	}
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != c.Size() {
		t.Fatalf("copied %d, %v", n, err)
	}
	// A read in the middle starts from a checkpoint.
	buf := make([]byte, 73)
	if _, err := c.ReadAt(buf, 30<<20); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("reading allocated %d bytes", grew)
	}
}
