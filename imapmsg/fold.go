package imapmsg

import (
	"io"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// folder maps text to the form SEARCH compares strings in, case-
// insensitively (RFC 9051 6.4.4): Unicode full case folding, compatibility
// decomposition (NFKD), and folding again (NFKD can give capitals, as
// for U+210C). Strings equal under i;unicode-casemap (RFC 5051: titlecase
// and NFKD) are equal in this form, as I18NLEVEL=1 requires of SEARCH
// (RFC 5255 4.4), and full folding adds a few more, as ß with "ss"
// (imapmsg.Casemap, for SORT, keeps RFC 5051's simple titlecase). There
// is a fast path for ASCII: mail text is mostly ASCII and cases.Fold
// costs several times more per byte. The mapping is per character except
// for NFKD's reordering of combining marks, so mapping runs separately
// gives the mapping of the whole unless a run ends inside a sequence of
// combining marks.
type folder struct {
	caser     cases.Caser
	tmp, tmp2 []byte // scratch for appendFoldRun
	// runes caches the mapping of single characters: text in one
	// language repeats a few non-ASCII letters, and mapping one at a time
	// through cases.Fold and NFKD costs allocations.
	runes map[rune]string
}

// maxFoldCache bounds folder.runes, against text of many different
// characters.
const maxFoldCache = 1024

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

// appendFoldSlow appends the mapping of src, a run of non-ASCII text,
// to dst: a character at a time from the cache unless the run holds a
// combining mark, which NFKD may reorder with its neighbours.
func (f *folder) appendFoldSlow(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		r, n := utf8.DecodeRune(src[i:])
		if unicode.Is(unicode.M, r) {
			return f.appendFoldRun(dst, src)
		}
		i += n
	}
	for i := 0; i < len(src); {
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, src[i]) // not UTF-8: kept as it is
			i++
			continue
		}
		m, ok := f.runes[r]
		if !ok {
			m = string(f.appendFoldRun(nil, src[i:i+n]))
			if f.runes == nil {
				f.runes = make(map[rune]string)
			}
			if len(f.runes) < maxFoldCache {
				f.runes[r] = m
			}
		}
		dst = append(dst, m...)
		i += n
	}
	return dst
}

// appendFoldRun appends the mapping of src to dst: folded, decomposed,
// folded again.
func (f *folder) appendFoldRun(dst, src []byte) []byte {
	f.tmp = f.caseFold(f.tmp[:0], src)
	f.tmp2 = norm.NFKD.Append(f.tmp2[:0], f.tmp...)
	return f.caseFold(dst, f.tmp2)
}

// caseFold folds src through cases.Fold into dst, growing dst as needed.
func (f *folder) caseFold(dst, src []byte) []byte {
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
