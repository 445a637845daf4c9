package inflate

// maxCodeLen is the longest Huffman code (RFC 1951 3.2.7).
const maxCodeLen = 15

// fastBits is how many bits the fast table looks up at once; longer
// codes are decoded a bit at a time.
const (
	fastBits = 9
	fastSize = 1 << fastBits
)

// table is a canonical Huffman code (RFC 1951 3.2.2) for decoding.
type table struct {
	// fast maps the next fastBits input bits to symbol<<4 | length
	// for codes no longer than fastBits; 0 for a longer or no code.
	fast [fastSize]uint16
	// count[l] is the number of codes of length l; symbol lists the
	// symbols in code order.
	count  [maxCodeLen + 1]uint16
	symbol [288]uint16
}

// init builds the code from its lengths (0: symbol not used). An
// over-subscribed code is refused, and so is an incomplete one unless
// it is a single code of one bit (as compress/flate and zlib allow for
// a distance code) or empty (a block of literals only).
func (h *table) init(lengths []uint8) bool {
	*h = table{}
	for _, l := range lengths {
		h.count[l]++
	}
	h.count[0] = 0
	left, codes := 1, 0
	for l := 1; l <= maxCodeLen; l++ {
		left <<= 1
		left -= int(h.count[l])
		codes += int(h.count[l])
		if left < 0 {
			return false
		}
	}
	if left > 0 && codes > 0 && !(codes == 1 && h.count[1] == 1) {
		return false
	}
	var offs [maxCodeLen + 2]int
	for l := 1; l <= maxCodeLen; l++ {
		offs[l+1] = offs[l] + int(h.count[l])
	}
	next := offs
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[next[l]] = uint16(sym)
			next[l]++
		}
	}
	// The fast table: the canonical codes, bit-reversed (the input is
	// read from the least significant bit, codes from their first bit).
	code := 0
	for l := 1; l <= fastBits; l++ {
		code = (code + int(h.count[l-1])) << 1
		if l == 1 {
			code = 0
		}
		for i := offs[l]; i < offs[l+1]; i++ {
			c := code + i - offs[l]
			rev := reverse(c, l)
			for j := rev; j < fastSize; j += 1 << l {
				h.fast[j] = h.symbol[i]<<4 | uint16(l)
			}
		}
	}
	return true
}

// reverse reverses the low n bits of c.
func reverse(c, n int) int {
	r := 0
	for i := 0; i < n; i++ {
		r = r<<1 | c&1
		c >>= 1
	}
	return r
}

// fixedTables are the fixed Huffman codes (RFC 1951 3.2.6).
var fixedTables = func() (t struct{ lit, dist table }) {
	var lens [288]uint8
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	t.lit.init(lens[:])
	var dl [32]uint8
	for i := range dl {
		dl[i] = 5
	}
	t.dist.init(dl[:])
	return t
}()

// code is a length or distance code's base and extra bits.
type code struct {
	base  uint16
	extra uint8
}

// lengthCodes are the lengths of symbols 257-285 (RFC 1951 3.2.5).
var lengthCodes = [29]code{
	{3, 0}, {4, 0}, {5, 0}, {6, 0}, {7, 0}, {8, 0}, {9, 0}, {10, 0},
	{11, 1}, {13, 1}, {15, 1}, {17, 1}, {19, 2}, {23, 2}, {27, 2}, {31, 2},
	{35, 3}, {43, 3}, {51, 3}, {59, 3}, {67, 4}, {83, 4}, {99, 4}, {115, 4},
	{131, 5}, {163, 5}, {195, 5}, {227, 5}, {258, 0},
}

// distCodes are the distances of symbols 0-29 (RFC 1951 3.2.5).
var distCodes = [30]code{
	{1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 1}, {7, 1}, {9, 2}, {13, 2},
	{17, 3}, {25, 3}, {33, 4}, {49, 4}, {65, 5}, {97, 5}, {129, 6}, {193, 6},
	{257, 7}, {385, 7}, {513, 8}, {769, 8}, {1025, 9}, {1537, 9},
	{2049, 10}, {3073, 10}, {4097, 11}, {6145, 11}, {8193, 12}, {12289, 12},
	{16385, 13}, {24577, 13},
}
