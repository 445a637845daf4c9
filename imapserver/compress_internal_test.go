package imapserver

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
)

// choppedInput hands out a compressed stream in pieces, with a read
// deadline's timeout after some, as a socket does to a waiting IDLE.
type choppedInput struct {
	data    []byte
	cuts    []byte // piece lengths, used in turn
	timeout bool   // the next Read times out
}

func (r *choppedInput) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	if r.timeout {
		r.timeout = false
		return 0, os.ErrDeadlineExceeded
	}
	n := len(r.data)
	if len(r.cuts) > 0 {
		// A cut divisible by 4 puts a timeout after its piece.
		n = int(r.cuts[0]) + 1
		r.timeout = r.cuts[0]%4 == 0
		r.cuts = append(r.cuts[1:], r.cuts[0])
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// inflateAll reads a deflateStream to the end of its input, going on
// after each timeout, as the session does.
func inflateAll(t testing.TB, d *deflateStream) []byte {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := d.Read(buf)
		out = append(out, buf[:n]...)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
		case errors.Is(err, errRestart):
			t.Skip("a block larger than maxRestart across a deadline")
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return out
		default:
			t.Fatalf("read: %v", err)
		}
	}
}

// FuzzDeflateStream feeds the server's inflater a client's compressed
// commands (Go's compress/flate, sync-flushed after each), cut into
// pieces with read timeouts between them: every timeout, at a block end
// or in the middle of one, must leave the stream readable and the
// decompressed bytes exactly those sent; at each flush that arrived whole
// the stream is quiet, and an inflater started from the window then
// reads the rest alike (as after a hibernation). Arbitrary bytes (the
// second form) must give an error or data, never a panic.
func FuzzDeflateStream(f *testing.F) {
	f.Add([]byte("a NOOP\r\n\nb IDLE\r\n\nDONE\r\n"), []byte{0, 3, 200}, uint8(6), false)
	f.Add(bytes.Repeat([]byte("c APPEND INBOX {5}\r\nhello\r\n\n"), 300), []byte{7}, uint8(1), false)
	f.Add([]byte("x"), []byte{1}, uint8(9), true)
	f.Fuzz(checkDeflateStream)
}

// TestDeflateStreamRandom runs FuzzDeflateStream's check on random
// commands, cuts and levels from a fixed seed.
func TestDeflateStreamRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"a NOOP\r\n", "b IDLE\r\n", "DONE\r\n", "\n\n", "c APPEND INBOX {5}\r\nhello\r\n", "x"}
	for i := 0; i < 300; i++ {
		var text []byte
		for range rng.IntN(200) {
			text = append(text, words[rng.IntN(len(words))]...)
		}
		cuts := make([]byte, 1+rng.IntN(8))
		for j := range cuts {
			cuts[j] = byte(rng.IntN(256))
		}
		checkDeflateStream(t, text, cuts, uint8(rng.IntN(10)), rng.IntN(8) == 0)
	}
}

func checkDeflateStream(t *testing.T, text, cuts []byte, level uint8, raw bool) {
	{
		// A restart replays its block: pieces of a byte with a
		// timeout after each make a long block quadratic to read.
		text = bytes.Clone(text[:min(len(text), 4<<10)])
		if raw {
			d := newDeflateStream(&choppedInput{data: text, cuts: cuts}, io.Discard, nil)
			buf := make([]byte, 512)
			for i := 0; i < 1000; i++ {
				if _, err := d.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					return
				}
			}
			return
		}
		var z bytes.Buffer
		zw, err := flate.NewWriter(&z, int(level%10))
		if err != nil {
			t.Skip()
		}
		// Each "\n\n" ends a flush.
		flushes := bytes.Split(text, []byte("\n\n"))
		var sent []byte
		var flushEnds []int
		for _, part := range flushes {
			zw.Write(part)
			zw.Flush()
			sent = append(sent, part...)
			flushEnds = append(flushEnds, z.Len())
		}
		d := newDeflateStream(&choppedInput{data: z.Bytes(), cuts: cuts}, io.Discard, nil)
		if got := inflateAll(t, d); !bytes.Equal(got, sent) {
			t.Fatalf("inflated %d bytes, sent %d: first difference at %d", len(got), len(sent), firstDiff(got, sent))
		}
		// Hibernate at the first flush, wake with its window.
		first := z.Bytes()[:flushEnds[0]]
		d = newDeflateStream(bytes.NewReader(first), io.Discard, nil)
		got := inflateAll(t, d)
		if !bytes.Equal(got, flushes[0]) || !d.quiet() {
			t.Fatalf("first flush: got %q (quiet %v), want %q", got, d.quiet(), flushes[0])
		}
		window, err := parseWindow(appendWindow(nil, d.window))
		if err != nil {
			t.Fatal(err)
		}
		w := newDeflateStream(&choppedInput{data: z.Bytes()[flushEnds[0]:], cuts: cuts}, io.Discard, window)
		if got := inflateAll(t, w); !bytes.Equal(got, sent[len(flushes[0]):]) {
			t.Fatalf("after the wake: inflated %d bytes, want %d: first difference at %d", len(got), len(sent)-len(flushes[0]), firstDiff(got, sent[len(flushes[0]):]))
		}
	}
}

func firstDiff(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// bitWriter packs DEFLATE bits, LSB first.
type bitWriter struct {
	out  []byte
	bits uint
}

func (w *bitWriter) bit(b uint8) {
	if w.bits%8 == 0 {
		w.out = append(w.out, 0)
	}
	w.out[len(w.out)-1] |= (b & 1) << (w.bits % 8)
	w.bits++
}

// TestDeflateRestartBounded checks that a block that never ends does not
// grow the restart log past maxRestart: a fixed-Huffman block of 400 KiB
// of literals, its end never sent, read with a deadline now and then:
// the stream ends with errRestart and the log is gone.
func TestDeflateRestartBounded(t *testing.T) {
	var w bitWriter
	w.bit(0) // BFINAL
	w.bit(1) // BTYPE 01, fixed Huffman, LSB first
	w.bit(0)
	code := uint8(0x30 + 'A') // literals 0-143: 8-bit codes 0x30+lit, MSB first
	for range 400 << 10 {
		for i := 7; i >= 0; i-- {
			w.bit(code >> i)
		}
	}
	cuts := append(bytes.Repeat([]byte{255}, 20), 252) // a timeout after every 21st piece
	in := &choppedInput{data: w.out, cuts: cuts}
	d := newDeflateStream(in, io.Discard, nil)
	buf := make([]byte, 64<<10)
	var got int
	for {
		n, err := d.Read(buf)
		got += n
		if errors.Is(err, errRestart) {
			break
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("after %d bytes: %v, want errRestart", got, err)
		}
	}
	if !d.in.lost || len(d.in.log) != 0 {
		t.Errorf("log of %d bytes (lost %v), want none", len(d.in.log), d.in.lost)
	}
	if got < maxRestart {
		t.Errorf("read %d bytes before errRestart, want ≥ %d", got, maxRestart)
	}
}
