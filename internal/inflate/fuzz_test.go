package inflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"testing"
)

// FuzzGoWriter compresses texts (data cut at the lengths in cuts) with
// compress/flate at a level from -2 to 9, sync-flushed after each, and
// checks the Reader against them (checkStream: any cutting of the
// input, timeouts between pieces, a resume from window and checkpoint
// after each flush). With raw set, data is a DEFLATE stream of its own:
// where compress/flate decodes it to its final block, the Reader must
// give the same bytes; anywhere it must not panic.
func FuzzGoWriter(f *testing.F) {
	f.Add([]byte("a NOOP\r\nb IDLE\r\nDONE\r\n"), []byte{8, 8, 6}, int8(6), false)
	f.Add(bytes.Repeat([]byte("c APPEND INBOX {5}\r\nhello\r\n"), 300), []byte{200, 7}, int8(1), false)
	f.Add([]byte("x"), []byte{1}, int8(-2), false)
	f.Add([]byte{0x63, 0x00, 0x42, 0x00}, []byte{0}, int8(0), true)
	f.Fuzz(func(t *testing.T, data, cuts []byte, level int8, raw bool) {
		if raw {
			checkRaw(t, data, cuts)
			return
		}
		lvl := int(uint8(level))%12 - 2
		var texts [][]byte
		for i := 0; len(data) > 0; i++ {
			n := len(data)
			if len(cuts) > 0 && i < 64 { // at most 65 flushes
				n = min(n, int(cuts[i%len(cuts)])*16+1)
			}
			texts = append(texts, data[:n])
			data = data[n:]
		}
		checkStream(t, goSegments(t, lvl, texts), cuts)
	})
}

// checkRaw compares the Reader with compress/flate on arbitrary input.
func checkRaw(t *testing.T, data, cuts []byte) {
	want, werr := io.ReadAll(flate.NewReader(bytes.NewReader(data)))
	r := NewReader(&chopped{data: bytes.Clone(data), cuts: cuts}, nil)
	var got []byte
	buf := make([]byte, 1000)
	var err error
	for {
		var n int
		n, err = r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil && !errors.Is(err, timeoutErr) {
			break
		}
	}
	if werr == nil {
		if err != io.EOF || !bytes.Equal(got, want) {
			t.Fatalf("compress/flate decodes %d bytes to the end; the Reader %d bytes, %v", len(want), len(got), err)
		}
	}
	if err == io.EOF && werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("outputs differ")
	}
}

// FuzzZlibDelivery reads a committed stream from real zlib (partial,
// sync and full flushes, and mbsync's) cut into pieces by cuts, with
// timeouts between some, through checkStream.
func FuzzZlibDelivery(f *testing.F) {
	names := streamFiles(f)
	streams := make([][]segment, len(names))
	for i, name := range names {
		streams[i] = readSegments(f, name)
	}
	for i := range streams {
		f.Add(uint8(i), []byte{byte(i * 37), 3})
	}
	f.Fuzz(func(t *testing.T, file uint8, cuts []byte) {
		checkStream(t, streams[int(file)%len(streams)], cuts)
	})
}
