package imapmsg

import (
	"io"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/transform"
)

// folder case-folds text (Unicode full case folding, as SEARCH compares
// strings case-insensitively, RFC 9051 6.4.4) with a fast path for ASCII:
// mail text is mostly ASCII and cases.Fold costs several times more per
// byte. Folding is context-free, so folding runs separately gives the same
// result as folding the whole.
type folder struct {
	caser cases.Caser
}

func newFolder() *folder { return &folder{caser: cases.Fold()} }

// appendFold appends the folding of src, which must end on a rune
// boundary, to dst.
func (f *folder) appendFold(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		j := i
		for j < len(src) && src[j] < utf8.RuneSelf {
			c := src[j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			j++
		}
		k := j
		for k < len(src) && src[k] >= utf8.RuneSelf {
			k++
		}
		if k > j {
			dst = f.appendFoldSlow(dst, src[j:k])
		}
		i = k
	}
	return dst
}

// appendFoldSlow folds src through cases.Fold into dst, growing dst as
// needed.
func (f *folder) appendFoldSlow(dst, src []byte) []byte {
	f.caser.Reset()
	for {
		if cap(dst)-len(dst) < len(src)*3+8 {
			dst = append(dst, make([]byte, len(src)*3+8)...)[:len(dst)]
		}
		nDst, nSrc, err := f.caser.Transform(dst[len(dst):cap(dst)], src, true)
		dst = dst[:len(dst)+nDst]
		src = src[nSrc:]
		if err != transform.ErrShortDst || len(src) == 0 {
			return dst
		}
	}
}

// foldReader reads r case-folded.
type foldReader struct {
	r    io.Reader
	f    *folder
	in   []byte // raw bytes; a trailing partial rune waits for the next read
	nin  int
	out  []byte
	err  error
	obuf []byte
}

func newFoldReader(r io.Reader, f *folder, buf []byte) *foldReader {
	return &foldReader{r: r, f: f, in: buf}
}

func (fr *foldReader) Read(p []byte) (int, error) {
	for len(fr.out) == 0 {
		if fr.err != nil {
			return 0, fr.err
		}
		n, err := fr.r.Read(fr.in[fr.nin:])
		fr.nin += n
		end := fr.nin
		if err == nil {
			// Hold back an incomplete rune at the end (at most 3 bytes).
			for k := 1; k <= 3 && k <= end; k++ {
				if c := fr.in[end-k]; c >= 0xC0 {
					if !utf8.FullRune(fr.in[end-k : end]) {
						end -= k
					}
					break
				} else if c < 0x80 {
					break
				}
			}
		} else {
			fr.err = err
		}
		fr.obuf = fr.f.appendFold(fr.obuf[:0], fr.in[:end])
		fr.out = fr.obuf
		fr.nin = copy(fr.in, fr.in[end:fr.nin])
	}
	n := copy(p, fr.out)
	fr.out = fr.out[n:]
	return n, nil
}
