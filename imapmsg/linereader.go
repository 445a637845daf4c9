package imapmsg

import (
	"bufio"
	"bytes"
	"io"
)

// lineReader yields a message line by line with offsets and a running
// count of LFs, through a fixed buffer: a line longer than the buffer comes
// in pieces, so memory stays bounded whatever the input.
type lineReader struct {
	br *bufio.Reader
	// data, when not nil, is the whole message in memory: lines are
	// sliced from it (pieces of at most max bytes, as br would give
	// them), without a buffer or a copy.
	data []byte
	max  int

	off  int64 // offset of the next unread byte
	lfs  int64 // LFs before off
	term int   // length of the line end (CRLF 2, LF 1) of the last piece, 0 if none
}

// frag is one line, or a piece of a long line.
type frag struct {
	b          []byte // valid until the next call to next
	off        int64  // offset of b[0]
	lineStart  bool   // b starts a line
	termBefore int    // length of the line end just before b
	lfsBefore  int64  // LFs before b
}

func newLineReader(r io.ReaderAt, size int64, bufSize int) *lineReader {
	if int64(bufSize) > size+16 {
		bufSize = int(size) + 16 // small messages get small buffers
	}
	return &lineReader{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), bufSize), term: 2}
}

// newBytesLineReader is newLineReader over a message held in data.
func newBytesLineReader(data []byte, bufSize int) *lineReader {
	return &lineReader{data: data, max: bufSize, term: 2}
}

// readSlice is bufio.Reader.ReadSlice('\n') over the reader's source.
func (lr *lineReader) readSlice() ([]byte, error) {
	if lr.data == nil {
		return lr.br.ReadSlice('\n')
	}
	rest := lr.data[lr.off:]
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if len(rest) > lr.max {
		rest = rest[:lr.max]
	}
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		return rest[:i+1], nil
	}
	if len(rest) == lr.max {
		return rest, bufio.ErrBufferFull
	}
	return rest, io.EOF
}

// next returns the next fragment, or io.EOF at the end.
func (lr *lineReader) next() (frag, error) {
	b, err := lr.readSlice()
	if len(b) == 0 {
		if err == nil || err == bufio.ErrBufferFull {
			err = io.ErrNoProgress
		}
		return frag{}, err
	}
	// The message starts at a line start (term != 0 initially).
	f := frag{b: b, off: lr.off, lineStart: lr.term != 0, termBefore: lr.term, lfsBefore: lr.lfs}
	lr.off += int64(len(b))
	lr.term = 0
	if b[len(b)-1] == '\n' {
		lr.lfs++
		lr.term = 1
		if len(b) > 1 && b[len(b)-2] == '\r' {
			lr.term = 2
		}
	}
	return f, nil
}
