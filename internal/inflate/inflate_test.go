package inflate

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// segment is what a client compressed and the bytes it sent for it,
// ending in a flush.
type segment struct{ plain, z []byte }

// readSegments reads a testdata stream (format in testdata/gen_zlib.py).
func readSegments(t testing.TB, name string) []segment {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var segs []segment
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		kind, data, _ := strings.Cut(sc.Text(), " ")
		b, err := hex.DecodeString(data)
		if kind != "#" && err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch kind {
		case "plain":
			segs = append(segs, segment{plain: b})
		case "z":
			segs[len(segs)-1].z = b
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return segs
}

// goSegments compresses texts with Go's compress/flate at level, with a
// sync flush after each.
func goSegments(t testing.TB, level int, texts [][]byte) []segment {
	var z bytes.Buffer
	w, err := flate.NewWriter(&z, level)
	if err != nil {
		t.Fatal(err)
	}
	var segs []segment
	for _, p := range texts {
		w.Write(p)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		segs = append(segs, segment{plain: p, z: bytes.Clone(z.Bytes())})
		z.Reset()
	}
	return segs
}

// streamFiles are the committed zlib streams and mbsync's.
func streamFiles(t testing.TB) []string {
	names, err := filepath.Glob("testdata/*.hex")
	if err != nil || len(names) < 25 {
		t.Fatalf("testdata streams: %v, %d files", err, len(names))
	}
	return names
}

// TestFlushedSegmentReturnedAtOnce feeds each stream through a pipe one
// flush at a time: everything the client flushed must come out before
// any further byte is sent (a Read that waited for more would block for
// good here), with the Reader quiet afterwards.
func TestFlushedSegmentReturnedAtOnce(t *testing.T) {
	type stream struct {
		name string
		segs []segment
	}
	var streams []stream
	for _, name := range streamFiles(t) {
		streams = append(streams, stream{filepath.Base(name), readSegments(t, name)})
	}
	texts := [][]byte{[]byte("a NOOP\r\n"), []byte("b SELECT INBOX\r\n"), bytes.Repeat([]byte("c UID STORE 1 +FLAGS (\\Seen)\r\n"), 200), []byte("d IDLE\r\n"), []byte("DONE\r\n")}
	for level := -2; level <= 9; level++ {
		streams = append(streams, stream{"go-level" + string(rune('0'+level+2)), goSegments(t, level, texts)})
	}
	for _, s := range streams {
		t.Run(s.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			r := NewReader(pr, nil)
			buf := make([]byte, 1500)
			for i, seg := range s.segs {
				go pw.Write(seg.z)
				got := make(chan []byte)
				go func() {
					var out []byte
					for len(out) < len(seg.plain) {
						n, err := r.Read(buf)
						out = append(out, buf[:n]...)
						if err != nil {
							break
						}
					}
					got <- out
				}()
				select {
				case out := <-got:
					if !bytes.Equal(out, seg.plain) {
						t.Fatalf("segment %d: got %d bytes %.60q, want %d bytes %.60q", i, len(out), out, len(seg.plain), seg.plain)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("segment %d (%d bytes): not returned before more input", i, len(seg.plain))
				}
			}
		})
	}
}

// timeoutErr is a read deadline's error.
var timeoutErr = os.ErrDeadlineExceeded

// chopped hands out a stream in pieces with a timeout after some, as a
// socket does to a session with read deadlines.
type chopped struct {
	data    []byte
	cuts    []byte // piece lengths - 1, in turn
	next    int    // the next cut
	timeout bool
}

func (c *chopped) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	if c.timeout {
		c.timeout = false
		return 0, timeoutErr
	}
	n := len(c.data)
	if len(c.cuts) > 0 {
		// Not rotated in place: a fuzz input's slices may share memory.
		cut := c.cuts[c.next%len(c.cuts)]
		c.next++
		n = int(cut) + 1
		c.timeout = cut%3 == 0
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// checkStream reads segs' bytes from a chopped source and checks the
// output; after each whole flush the Reader must be quiet, and a Reader
// resumed from its window and checkpoint (after a round trip through
// their encoding) must read the rest alike.
func checkStream(t testing.TB, segs []segment, cuts []byte) {
	var all, plain []byte
	for _, s := range segs {
		all = append(all, s.z...)
		plain = append(plain, s.plain...)
	}
	if len(cuts) == 0 {
		cuts = []byte{255}
	}
	got := readAll(t, NewReader(&chopped{data: all, cuts: cuts}, nil))
	if !bytes.Equal(got, plain) {
		t.Fatalf("chopped: got %d bytes, want %d; first difference at %d", len(got), len(plain), firstDiff(got, plain))
	}
	// Hibernate after each flush, resume, go on.
	var window []byte
	var cp Checkpoint
	off := 0
	for i, s := range segs {
		r, err := Resume(bytes.NewReader(s.z), window, cp)
		if err != nil {
			t.Fatalf("segment %d: resume: %v", i, err)
		}
		if again, ok := r.Checkpoint(); !ok || again != cp {
			t.Fatalf("segment %d: resumed, not yet read: checkpoint %+v %v, want %+v (it may sleep again)", i, again, ok, cp)
		}
		out := readAll(t, r)
		if !bytes.Equal(out, s.plain) {
			t.Fatalf("segment %d after a resume: got %d bytes, want %d; first difference at %d", i, len(out), len(s.plain), firstDiff(out, s.plain))
		}
		off += len(out)
		var ok bool
		if cp, ok = r.Checkpoint(); !ok {
			t.Fatalf("segment %d: not quiet after its flush (mode %d)", i, r.mode)
		}
		b, _ := cp.AppendBinary(nil)
		if cp, _, err = ParseCheckpoint(b); err != nil {
			t.Fatalf("segment %d: checkpoint %x: %v", i, b, err)
		}
		window = r.AppendWindow(nil)
		if len(window) > WindowSize || !bytes.HasSuffix(plain[:off], window) {
			t.Fatalf("segment %d: window of %d bytes is not the output's end", i, len(window))
		}
	}
}

// readAll reads r to the end of its input, going on after timeouts.
func readAll(t testing.TB, r *Reader) []byte {
	var out []byte
	buf := make([]byte, 777)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		switch {
		case err == nil, errors.Is(err, timeoutErr):
		case err == io.EOF, err == io.ErrUnexpectedEOF: // the caller compares out
			return out
		default:
			t.Fatalf("read after %d bytes: %v", len(out), err)
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestStreams runs checkStream on every committed stream and on Go's
// writer's at every level, cut in pieces of several sizes.
func TestStreams(t *testing.T) {
	for _, name := range streamFiles(t) {
		segs := readSegments(t, name)
		for _, cuts := range [][]byte{{0}, {2, 7, 0}, {255}, {99, 3}} {
			t.Run(filepath.Base(name), func(t *testing.T) { checkStream(t, segs, cuts) })
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for level := -2; level <= 9; level++ {
		var texts [][]byte
		for range 30 {
			texts = append(texts, randomText(rng, 3000))
		}
		checkStream(t, goSegments(t, level, texts), []byte{0, 5, 200, 33})
	}
}

// randomText is IMAP-like text, now and then with random bytes.
func randomText(rng *rand.Rand, max int) []byte {
	words := []string{"a", "UID", "FETCH", "1:*", "(FLAGS)", "\r\n", "STORE", "+FLAGS", "\\Seen", "IDLE", "DONE", "NOOP"}
	var b []byte
	n := rng.IntN(max) + 1
	for len(b) < n {
		if rng.IntN(20) == 0 {
			for range rng.IntN(100) {
				b = append(b, byte(rng.Uint32()))
			}
			continue
		}
		b = append(b, words[rng.IntN(len(words))]...)
		b = append(b, ' ')
	}
	return b
}

// TestCorrupt: corrupt input gives ErrCorrupt, for good.
func TestCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"reserved block type", []byte{0x07}},
		{"stored length", []byte{0x00, 0x05, 0x00, 0x05, 0x00}},
		{"distance too far", []byte{0x63, 0x00, 0x42, 0x00}}, // fixed: literal 0, then a match at distance 3
		{"too many length codes", []byte{0xfc, 0xff, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.in), nil)
			_, err := io.ReadAll(r)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err %v, want ErrCorrupt", err)
			}
			if _, err2 := r.Read(make([]byte, 10)); !errors.Is(err2, ErrCorrupt) {
				t.Fatalf("second read: %v, want the error again", err2)
			}
		})
	}
}

// TestDictionary: a match into a preset dictionary decodes, and the
// same stream without it is corrupt.
func TestDictionary(t *testing.T) {
	dict := []byte("a UID FETCH 1:* (FLAGS)\r\n")
	var z bytes.Buffer
	w, _ := flate.NewWriterDict(&z, 9, dict)
	w.Write([]byte("b UID FETCH 1:* (FLAGS)\r\n"))
	w.Flush()
	r := NewReader(bytes.NewReader(z.Bytes()), dict)
	got := readAll(t, r)
	if string(got) != "b UID FETCH 1:* (FLAGS)\r\n" {
		t.Fatalf("got %q", got)
	}
	if _, err := io.ReadAll(NewReader(bytes.NewReader(z.Bytes()), nil)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("without the dictionary: %v, want ErrCorrupt", err)
	}
}

// emptyReads returns nothing, without an error, before each byte.
type emptyReads struct {
	data  []byte
	empty bool
}

func (e *emptyReads) Read(p []byte) (int, error) {
	if e.empty = !e.empty; e.empty {
		return 0, nil
	}
	if len(e.data) == 0 {
		return 0, io.EOF
	}
	p[0], e.data = e.data[0], e.data[1:]
	return 1, nil
}

// TestEmptyReads: a source's empty reads are read past.
func TestEmptyReads(t *testing.T) {
	segs := goSegments(t, 6, [][]byte{[]byte("a NOOP\r\n")})
	got := readAll(t, NewReader(&emptyReads{data: segs[0].z}, nil))
	if string(got) != "a NOOP\r\n" {
		t.Fatalf("got %q", got)
	}
}

// TestReset: a Reader reused with Reset or ResetResume decodes as a new
// one does, and what its window held before is not history: a match
// that reaches past the new dictionary is corrupt, as it is for a new
// Reader.
func TestReset(t *testing.T) {
	dict := []byte("a UID FETCH 1:* (FLAGS)\r\n")
	var z bytes.Buffer
	w, _ := flate.NewWriterDict(&z, 9, dict)
	w.Write([]byte("b UID FETCH 1:* (FLAGS)\r\n"))
	w.Flush()
	withDict := bytes.Clone(z.Bytes())

	// The reused Reader first decodes a long stream that ends with the
	// dictionary's text, so that its old window holds what a match in
	// withDict refers to.
	long := bytes.Repeat([]byte("x NOOP\r\n"), 5000)
	long = append(long, dict...)
	old := goSegments(t, 6, [][]byte{long})
	r := NewReader(bytes.NewReader(old[0].z), nil)
	if got := readAll(t, r); !bytes.Equal(got, long) {
		t.Fatalf("first stream: %d bytes, want %d", len(got), len(long))
	}

	tests := []struct {
		name    string
		reset   func(r *Reader, src io.Reader)
		corrupt bool
	}{
		{"Reset with the dictionary", func(r *Reader, src io.Reader) { r.Reset(src, dict) }, false},
		{"Reset without it", func(r *Reader, src io.Reader) { r.Reset(src, nil) }, true},
		{"ResetResume with it", func(r *Reader, src io.Reader) {
			if err := r.ResetResume(src, dict, Checkpoint{}); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"ResetResume without it", func(r *Reader, src io.Reader) {
			if err := r.ResetResume(src, nil, Checkpoint{}); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.reset(r, bytes.NewReader(withDict))
			got, err := io.ReadAll(r)
			if tt.corrupt {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("got %q, %v; want ErrCorrupt", got, err)
				}
				return
			}
			if err != nil || string(got) != "b UID FETCH 1:* (FLAGS)\r\n" {
				t.Fatalf("got %q, %v", got, err)
			}
			if cp, ok := r.Checkpoint(); !ok || cp.NBits != 0 {
				t.Fatalf("not quiet after the stream: %+v %v", cp, ok)
			}
		})
	}
	if err := r.ResetResume(nil, nil, Checkpoint{NBits: 70}); err == nil {
		t.Fatal("ResetResume took a corrupt checkpoint")
	}
}
