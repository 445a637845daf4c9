package imapwire

import (
	"iter"
	"math"
	"slices"
	"strconv"
)

// seqSet reads a sequence-set (RFC 9051 9) or "$" (RFC 5182).
func (d *Decoder) seqSet() (SeqSet, error) {
	i := d.pos
	for i < len(d.line) && isSeqChar(d.line[i]) {
		i++
	}
	if i == d.pos {
		if d.atEnd() {
			return SeqSet{}, badf("missing sequence set")
		}
		return SeqSet{}, badf("expected a sequence set at %q", d.rest())
	}
	s, err := parseSeqSet(d.line[d.pos:i])
	if err != nil {
		return SeqSet{}, err
	}
	d.pos = i
	return s, nil
}

func isSeqChar(c byte) bool {
	return ('0' <= c && c <= '9') || c == ':' || c == ',' || c == '*' || c == '$'
}

// ParseSeqSet parses a sequence-set such as "1:4,7,9:*", or "$".
func ParseSeqSet(s string) (SeqSet, error) {
	return parseSeqSet([]byte(s))
}

func parseSeqSet(b []byte) (SeqSet, error) {
	if len(b) == 1 && b[0] == '$' {
		return SeqSet{Saved: true}, nil
	}
	n := 1
	for _, c := range b {
		if c == ',' {
			n++
		}
	}
	set := SeqSet{Ranges: make([]SeqRange, 0, n)}
	for len(b) > 0 {
		var r SeqRange
		var err error
		if r.Start, b, err = seqNumber(b); err != nil {
			return SeqSet{}, err
		}
		r.Stop = r.Start
		if len(b) > 0 && b[0] == ':' {
			if r.Stop, b, err = seqNumber(b[1:]); err != nil {
				return SeqSet{}, err
			}
		}
		set.Ranges = append(set.Ranges, r)
		if len(b) > 0 {
			if b[0] != ',' {
				return SeqSet{}, badf("bad sequence set")
			}
			b = b[1:]
			if len(b) == 0 {
				return SeqSet{}, badf("bad sequence set: trailing comma")
			}
		}
	}
	if len(set.Ranges) == 0 {
		return SeqSet{}, badf("empty sequence set")
	}
	return set, nil
}

// seqNumber reads nz-number / "*" (0 stands for "*").
func seqNumber(b []byte) (uint32, []byte, error) {
	if len(b) > 0 && b[0] == '*' {
		return 0, b[1:], nil
	}
	var n uint64
	i := 0
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		n = n*10 + uint64(b[i]-'0')
		if n > math.MaxUint32 {
			return 0, nil, badf("sequence number too large")
		}
		i++
	}
	if i == 0 {
		return 0, nil, badf("bad sequence set")
	}
	if n == 0 {
		return 0, nil, badf("sequence number zero")
	}
	return uint32(n), b[i:], nil
}

// String formats the set as the client wrote it ("*" for 0, "$").
func (s SeqSet) String() string {
	if s.Saved {
		return "$"
	}
	b := make([]byte, 0, 12*len(s.Ranges))
	for i, r := range s.Ranges {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSeqNum(b, r.Start)
		if r.Stop != r.Start {
			b = append(b, ':')
			b = appendSeqNum(b, r.Stop)
		}
	}
	return string(b)
}

func appendSeqNum(b []byte, n uint32) []byte {
	if n == 0 {
		return append(b, '*')
	}
	return strconv.AppendUint(b, uint64(n), 10)
}

// Dynamic reports whether the set uses "*" and so depends on the mailbox.
func (s SeqSet) Dynamic() bool {
	for _, r := range s.Ranges {
		if r.Start == 0 || r.Stop == 0 {
			return true
		}
	}
	return false
}

// Resolve returns the bounds of r in order, "*" standing for max (the
// largest sequence number or UID in use): RFC 9051 6.4.9's n:* names the
// last message even when n is above it.
func (r SeqRange) Resolve(max uint32) (lo, hi uint32) {
	lo, hi = r.Start, r.Stop
	if lo == 0 {
		lo = max
	}
	if hi == 0 {
		hi = max
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi
}

// Contains reports whether n is in the set, "*" standing for max (the
// largest sequence number or UID in the mailbox). It is false for a "$"
// set, which the server resolves itself.
func (s SeqSet) Contains(n, max uint32) bool {
	for _, r := range s.Ranges {
		if lo, hi := r.Resolve(max); lo <= n && n <= hi {
			return true
		}
	}
	return false
}

// Normalize returns the set's ranges with "*" replaced by max, each with
// Start <= Stop, sorted and merged. For UIDs note that "N:*" with N above
// the largest UID still contains the largest UID (RFC 9051 6.4.8).
func (s SeqSet) Normalize(max uint32) []SeqRange {
	out := make([]SeqRange, 0, len(s.Ranges))
	for _, r := range s.Ranges {
		lo, hi := r.Resolve(max)
		if hi == 0 {
			continue // "*" in an empty mailbox
		}
		if lo == 0 {
			lo = 1
		}
		out = append(out, SeqRange{lo, hi})
	}
	slices.SortFunc(out, func(a, b SeqRange) int {
		if a.Start != b.Start {
			if a.Start < b.Start {
				return -1
			}
			return 1
		}
		return 0
	})
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && uint64(r.Start) <= uint64(merged[n-1].Stop)+1 {
			merged[n-1].Stop = max32(merged[n-1].Stop, r.Stop)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

func max32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// All yields the numbers of the set in ascending order without
// duplicates, "*" standing for max. It allocates only the normalized
// ranges, never one entry per number, so "1:*" over UIDs is cheap to
// start; callers intersect with what exists instead of iterating blindly.
func (s SeqSet) All(max uint32) iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		for _, r := range s.Normalize(max) {
			for n := uint64(r.Start); n <= uint64(r.Stop); n++ {
				if !yield(uint32(n)) {
					return
				}
			}
		}
	}
}

// Count returns how many numbers the set holds, "*" standing for max.
func (s SeqSet) Count(max uint32) uint64 {
	var n uint64
	for _, r := range s.Normalize(max) {
		n += uint64(r.Stop) - uint64(r.Start) + 1
	}
	return n
}

// FormatUIDSet formats numbers as a compact sequence set, "1:3,7": for
// COPYUID and APPENDUID (RFC 4315), VANISHED (RFC 7162) and ESEARCH ALL
// (RFC 4731). Unsorted input keeps its order, with consecutive runs
// folded, as COPYUID needs the order of the source set; it returns ""
// for no numbers.
func FormatUIDSet(uids []uint32) string {
	return string(AppendUIDSet(nil, uids))
}

// AppendUIDSet appends the FormatUIDSet form of uids to b.
func AppendUIDSet(b []byte, uids []uint32) []byte {
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 && uids[j] != math.MaxUint32 {
			j++
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(uids[i]), 10)
		if j > i {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(uids[j]), 10)
		}
		i = j + 1
	}
	return b
}

// FormatRanges formats resolved ranges (as from Normalize) as a sequence
// set.
func FormatRanges(rs []SeqRange) string {
	b := make([]byte, 0, 12*len(rs))
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(r.Start), 10)
		if r.Stop != r.Start {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(r.Stop), 10)
		}
	}
	return string(b)
}
