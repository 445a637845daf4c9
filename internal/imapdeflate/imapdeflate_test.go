package imapdeflate

import (
	"bytes"
	stdflate "compress/flate"
	"errors"
	"io"
	"testing"

	"github.com/dormouse/dormouse/internal/inflate"
)

// TestInflateStateEncoding checks the form a compressed sleeper's
// inflater state takes in its blob: checkpoint and window round-trip
// (the window deflated when that is shorter, raw otherwise), the older
// window-only forms still read, and damaged forms are refused.
func TestInflateStateEncoding(t *testing.T) {
	random := make([]byte, 3000)
	for i := range random {
		random[i] = byte(i*7919>>3 ^ i*31)
	}
	for _, tc := range []struct {
		name string
		s    State
	}{
		{"empty", State{}},
		{"commands", State{Window: bytes.Repeat([]byte("a UID FETCH 1:* (FLAGS)\r\n"), 40)}},
		{"partial flush bits", State{Window: []byte("a NOOP\r\n"), CP: inflate.Checkpoint{Fixed: true, Bits: 0b1010, NBits: 5}}},
		{"header bits", State{Window: []byte("b NOOP\r\n"), CP: inflate.Checkpoint{Bits: 0b10, NBits: 2}}},
		{"incompressible", State{Window: random, CP: inflate.Checkpoint{Fixed: true, Final: true, Bits: 1, NBits: 9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendState(nil, tc.s)
			got, err := ParseState(b)
			if err != nil || got.CP != tc.s.CP || !bytes.Equal(got.Window, tc.s.Window) {
				t.Fatalf("round trip of %d bytes: %+v (window %d bytes), %v; want %+v (window %d bytes)", len(b), got.CP, len(got.Window), err, tc.s.CP, len(tc.s.Window))
			}
			if len(b) > 1+2+2+len(tc.s.Window) {
				t.Errorf("encoded in %d bytes, more than the raw form", len(b))
			}
		})
	}
	// The window-only form of h-compress.
	if got, err := ParseState(append([]byte{windowRaw}, "a NOOP\r\n"...)); err != nil || string(got.Window) != "a NOOP\r\n" || got.CP != (inflate.Checkpoint{}) {
		t.Errorf("window-only form: %q %+v %v", got.Window, got.CP, err)
	}
	for _, b := range [][]byte{
		nil,
		{9},
		{stateRaw},                  // no checkpoint
		{stateRaw, 0, 60},           // too many bits
		{stateRaw, 4},               // unknown flag
		{stateRaw, 2, 0},            // final without fixed
		{stateDeflated, 0, 0, 0xff}, // window not a deflate stream
		{stateRaw, 0, 3, 0xff, 'a'}, // bits above NBits
		append([]byte{windowRaw}, make([]byte, inflate.WindowSize+1)...),
	} {
		if _, err := ParseState(b); !errors.Is(err, ErrState) {
			t.Errorf("%.20x: %v, want ErrState", b, err)
		}
	}
}

// TestInflateAsleepPartialFlush: a sleeper's input flushed as zlib's
// Z_PARTIAL_FLUSH leaves bits of the empty block pending; the sleeper
// answers it (quiet after it) and keeps the bits, and the next flush,
// which begins with the rest of that block, decodes from the state kept.
func TestInflateAsleepPartialFlush(t *testing.T) {
	// Two partial flushes, written out by hand: fixed blocks of
	// literals (8-bit codes 0x30+c), each ended by an empty fixed block
	// of which only whole bytes are sent.
	var w bitWriter
	var flushes [][]byte
	sent := 0
	for _, text := range []string{"DONE\r\n", "i2 IDLE\r\n"} {
		w.put(0b010, 3)
		for _, c := range []byte(text) {
			w.code(0x30+uint(c), 8)
		}
		w.code(0, 7)    // end of block
		w.put(0b010, 3) // the empty block
		w.code(0, 7)
		whole := int(w.bits / 8)
		flushes = append(flushes, bytes.Clone(w.out[sent:whole]))
		sent = whole
	}
	var s State
	for i, want := range []string{"DONE\r\n", "i2 IDLE\r\n"} {
		text, next, ok, _ := Inflate(s, flushes[i])
		if !ok || string(text) != want {
			t.Fatalf("flush %d: %q ok %v, want %q", i, text, ok, want)
		}
		// The first flush ends 4 bits short of a byte: the server has
		// the empty block's header and 3 bits of its end code, and goes
		// on in that block. The second ends on a byte boundary.
		if want := (inflate.Checkpoint{Fixed: i == 0, NBits: uint8(3 * (1 - i))}); next.CP != want {
			t.Errorf("flush %d: checkpoint %+v, want %+v", i, next.CP, want)
		}
		s = next
	}
}

// bitWriter packs DEFLATE bits, the least significant first.
type bitWriter struct {
	out  []byte
	bits uint
}

// put writes the n low bits of v, the least significant first.
func (w *bitWriter) put(v, n uint) {
	for i := uint(0); i < n; i++ {
		if w.bits%8 == 0 {
			w.out = append(w.out, 0)
		}
		w.out[len(w.out)-1] |= byte((v>>i)&1) << (w.bits % 8)
		w.bits++
	}
}

// code writes a Huffman code of n bits, its first bit first.
func (w *bitWriter) code(c, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.put(c>>uint(i), 1)
	}
}

// TestDeflateStreamWrites: the compressor's writes, small and large,
// each compressed on its own with what was sent before as dictionary,
// decode with compress/flate (another implementation) to what was
// written, and what it keeps between writes stays bounded.
func TestDeflateStreamWrites(t *testing.T) {
	var wire bytes.Buffer
	d := NewStream(bytes.NewReader(nil), &wire, State{})
	var want []byte
	big := make([]byte, 200<<10)
	for i := range big {
		big[i] = byte(i * 7919 >> 5)
	}
	writes := [][]byte{[]byte("* OK a\r\n"), []byte("* 1 FETCH (FLAGS (\\Seen))\r\n"), big, []byte("* 1 FETCH (FLAGS (\\Seen))\r\n"), bytes.Repeat([]byte("t OK done\r\n"), 1000)}
	for _, p := range writes {
		if _, err := d.Write(p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p...)
		if len(d.sent) > deflateDict || d.z.Cap() > maxDeflateBuffer {
			t.Fatalf("after a write of %d bytes: keeps %d bytes of history and a buffer of %d", len(p), len(d.sent), d.z.Cap())
		}
	}
	got, err := io.ReadAll(stdflate.NewReader(&wire))
	if !bytes.Equal(got, want) {
		t.Fatalf("decoded %d bytes (%v), want %d", len(got), err, len(want))
	}
}

// TestParseStateOwnsWindow: the window ParseState returns is the caller's,
// even an empty one from a deflated form (input from outside: AppendState
// never deflates an empty window): appending to it must not write into
// the pooled scratch a later decode uses.
func TestParseStateOwnsWindow(t *testing.T) {
	var z bytes.Buffer
	zw, err := stdflate.NewWriter(&z, stdflate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zw.Close()
	cp, _ := inflate.Checkpoint{}.AppendBinary(nil)
	emptyDeflated := append(append([]byte{stateDeflated}, cp...), z.Bytes()...)
	for _, b := range [][]byte{emptyDeflated, AppendState(nil, State{Window: bytes.Repeat([]byte("a NOOP\r\n"), 10)})} {
		s, err := ParseState(b)
		if err != nil {
			t.Fatal(err)
		}
		w := string(s.Window)
		s.Window = append(s.Window, "XXXXXXXX"...)
		want := bytes.Repeat([]byte("b NOOP\r\n"), 10)
		again, err := ParseState(AppendState(nil, State{Window: want}))
		if err != nil || !bytes.Equal(again.Window, want) {
			t.Fatalf("window %q: a later ParseState got %q, %v", w, again.Window, err)
		}
		if got := string(s.Window); got != w+"XXXXXXXX" {
			t.Fatalf("window %q after append: %q", w, got)
		}
	}
}
