package imaptest

// partialFlusher is a DEFLATE compressor that ends every write as zlib's
// Z_PARTIAL_FLUSH does (isync's mbsync flushes so): the block is ended,
// then an empty fixed-Huffman block follows, and only whole bytes are
// sent; the last bits of the empty block (up to 7) wait in the bit buffer
// for the next write. Its blocks are fixed-Huffman, with back-references
// into what it sent before (the last matchWindow bytes), so a server that
// loses its history or its pending bits across a hibernation fails to
// read the next command. compress/flate has no such flush, and a test
// must not need zlib.
type partialFlusher struct {
	bits  uint64 // pending bits, the first in the least significant bit
	nbits uint
	hist  []byte // the last matchWindow bytes written
}

// matchWindow bounds how far back partialFlusher looks for matches.
const matchWindow = 1 << 10

// compress returns the bytes to send for p.
func (z *partialFlusher) compress(p []byte) []byte {
	var out []byte
	z.put(0b010, 3, &out) // BFINAL 0, BTYPE 01 (fixed), LSB first
	all := append(z.hist, p...)
	for i := len(z.hist); i < len(all); {
		length, dist := longestMatch(all, i)
		if length < 3 {
			z.literal(int(all[i]), &out)
			i++
			continue
		}
		z.lengthDist(length, dist, &out)
		i += length
	}
	z.hist = append(z.hist[:0], all[max(0, len(all)-matchWindow):]...)
	z.literal(256, &out) // end of block
	// The partial flush: an empty fixed block, sent as far as whole
	// bytes go.
	z.put(0b010, 3, &out)
	z.literal(256, &out)
	return out
}

// longestMatch finds the longest earlier occurrence, at most 258 bytes and
// matchWindow back, of the text at all[i:].
func longestMatch(all []byte, i int) (length, dist int) {
	for start := max(0, i-matchWindow); start < i && length < 258; start++ {
		n := 0
		for n < 258 && i+n < len(all) && all[start+n] == all[i+n] {
			n++
		}
		if n > length {
			length, dist = n, i-start
		}
	}
	return length, dist
}

// literal writes a literal/length symbol's fixed code (RFC 1951 3.2.6).
func (z *partialFlusher) literal(sym int, out *[]byte) {
	switch {
	case sym < 144:
		z.putCode(0x30+sym, 8, out)
	case sym < 256:
		z.putCode(0x190+sym-144, 9, out)
	case sym < 280:
		z.putCode(sym-256, 7, out)
	default:
		z.putCode(0xc0+sym-280, 8, out)
	}
}

// lengthDist writes a match (RFC 1951 3.2.5).
func (z *partialFlusher) lengthDist(length, dist int, out *[]byte) {
	lbase := [...]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lextra := [...]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	dbase := [...]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	dextra := [...]uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	l := len(lbase) - 1
	for lbase[l] > length {
		l--
	}
	z.literal(257+l, out)
	z.put(uint64(length-lbase[l]), lextra[l], out)
	d := len(dbase) - 1
	for dbase[d] > dist {
		d--
	}
	z.putCode(d, 5, out)
	z.put(uint64(dist-dbase[d]), dextra[d], out)
}

// putCode writes a Huffman code of n bits, its first bit first.
func (z *partialFlusher) putCode(code int, n uint, out *[]byte) {
	rev := 0
	for i := uint(0); i < n; i++ {
		rev = rev<<1 | (code>>i)&1
	}
	z.put(uint64(rev), n, out)
}

// put writes the n low bits of v, the least significant first, and
// moves whole bytes to out.
func (z *partialFlusher) put(v uint64, n uint, out *[]byte) {
	z.bits |= v << z.nbits
	z.nbits += n
	for z.nbits >= 8 {
		*out = append(*out, byte(z.bits))
		z.bits >>= 8
		z.nbits -= 8
	}
}
