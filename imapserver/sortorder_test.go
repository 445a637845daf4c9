package imapserver

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapmsg"
)

// textColumn makes a string column of subjects as SORT (SUBJECT) keys
// them: base subject (RFC 5256 2.1) in i;unicode-casemap form.
func subjectColumn(subjects []string, reverse bool) sortColumn {
	col := newTextColumn(len(subjects))
	col.reverse = reverse
	for i, s := range subjects {
		base, _ := imapmsg.BaseSubject(s)
		col.setString(i, []byte(imapmsg.Casemap(base)))
	}
	return col
}

// rawColumn makes a string column of keys taken as they are.
func rawColumn(keys []string, reverse bool) sortColumn {
	col := newTextColumn(len(keys))
	col.reverse = reverse
	for i, s := range keys {
		col.setString(i, []byte(s))
	}
	return col
}

// referenceOrder is the order by compareMessages alone, one comparison
// of every key per pair: what sortOrder must give.
func referenceOrder(cols []sortColumn, n int) []int32 {
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int { return compareMessages(cols, x, y) })
	return order
}

// TestSortOrder checks that sortOrder, which sorts by the keys' first 16
// bytes and resolves only the runs those leave tied, orders exactly as
// the full comparison does, and as RFC 5256 wants, on the inputs where
// heads mislead: case and prefixes that fold away, [blob]s, non-ASCII,
// empty subjects, strings equal for 16 bytes or differing only by
// trailing NULs, REVERSE, a second key, and equal keys (by position,
// which stands for the sequence number, in both directions).
func TestSortOrder(t *testing.T) {
	subjects := []string{
		0:  "Re: Budget",
		1:  "budget",
		2:  "[list] Fwd: Agenda (fwd)",
		3:  "RE: [list] agenda",
		4:  "",
		5:  "Été",
		6:  "Ete",
		7:  "A subject longer than sixteen bytes, two",
		8:  "a subject longer than sixteen bytes, one",
		9:  "Re: Fwd: a subject longer than sixteen bytes, two",
		10: "Re:",
		11: "Fig",
		12: "été",
	}
	dates := []int64{5, 3, 3, -7, 0, 9, 3, 1, 1, 2, 0, 8, 5}
	date := func(reverse bool) sortColumn { return sortColumn{ints: dates, reverse: reverse} }
	for _, tc := range []struct {
		name string
		cols []sortColumn
		want []int32 // nil: the reference order alone
	}{
		// Empty subjects first, then by folded base subject: the long
		// ones ("A SUBJECT" before "AGENDA"), decided after 16 bytes (8
		// "one" before 7 and 9 "two", tied by position), "agenda" (2,
		// 3), "budget" (0, 1), "ete" (6) before "été" = E + U+0301 (5,
		// 12) in octets, "fig".
		{"subject", []sortColumn{subjectColumn(subjects, false)}, []int32{4, 10, 8, 7, 9, 2, 3, 0, 1, 6, 5, 12, 11}},
		// REVERSE reverses the keys but not the tie by position.
		{"subject reverse", []sortColumn{subjectColumn(subjects, true)}, []int32{11, 5, 12, 6, 0, 1, 2, 3, 7, 9, 8, 4, 10}},
		{"subject then date", []sortColumn{subjectColumn(subjects, false), date(false)}, []int32{4, 10, 8, 7, 9, 3, 2, 1, 0, 6, 12, 5, 11}},
		{"date reverse then subject", []sortColumn{date(true), subjectColumn(subjects, false)}, nil},
		{"date", []sortColumn{date(false)}, []int32{3, 4, 10, 7, 8, 9, 1, 2, 6, 0, 12, 11, 5}},
		{"date reverse", []sortColumn{date(true)}, nil},
		{"nul padding", []sortColumn{rawColumn([]string{"ab\x00", "ab", "", "\x00", "ab\x00\x00", "ab", "ab\x00"}, false)}, []int32{2, 3, 1, 5, 0, 6, 4}},
		{"nul padding reverse", []sortColumn{rawColumn([]string{"ab\x00", "ab", "", "\x00", "ab\x00\x00", "ab", "ab\x00"}, true)}, []int32{4, 0, 6, 1, 5, 3, 2}},
		{"sixteen and seventeen bytes", []sortColumn{rawColumn([]string{
			"0123456789abcdef1", "0123456789abcdef", "0123456789abcdef0", "0123456789abcdef", "0123456789abcdef\x00", "0123456789abcdef0"}, false)},
			[]int32{1, 3, 4, 2, 5, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.cols[0].ints) + len(tc.cols[0].starts)
			ref := referenceOrder(tc.cols, n)
			if tc.want != nil && !slices.Equal(ref, tc.want) {
				t.Fatalf("compareMessages orders %v, want %v", ref, tc.want)
			}
			if got := sortOrder(tc.cols, n); !slices.Equal(got, ref) {
				t.Errorf("sortOrder = %v, want %v", got, ref)
			}
		})
	}
}

// TestSortOrderRandom compares sortOrder with the full comparison on
// random keys made to collide: a few short strings over an alphabet with
// NUL, lengths around 16 and 32, one to three keys of either kind, each
// maybe REVERSE, runs short (compared) and long (radix-sorted).
func TestSortOrderRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "\x00ab\xff"
	for round := range 300 {
		n := 1 + rng.IntN(200)
		if round%5 == 0 {
			n = radixMin + rng.IntN(4*radixMin) // radix-sorted
		}
		cols := make([]sortColumn, 1+rng.IntN(3))
		for j := range cols {
			reverse := rng.IntN(2) == 0
			if rng.IntN(3) == 0 {
				ints := make([]int64, n)
				for i := range ints {
					ints[i] = int64(rng.IntN(5)) - 2
					if rng.IntN(10) == 0 {
						ints[i] = int64(rng.Uint64())
					}
				}
				cols[j] = sortColumn{ints: ints, reverse: reverse}
				continue
			}
			keys := make([]string, n)
			for i := range keys {
				var b strings.Builder
				switch rng.IntN(3) {
				case 0:
					b.WriteString("0123456789abcd") // 14 shared bytes
				case 1:
					b.WriteString("0123456789abcdef0123456789abcd") // 30
				}
				for range rng.IntN(6) + rng.IntN(2)*rng.IntN(14) {
					b.WriteByte(alphabet[rng.IntN(len(alphabet))])
				}
				keys[i] = b.String()
			}
			cols[j] = rawColumn(keys, reverse)
		}
		if got, want := sortOrder(cols, n), referenceOrder(cols, n); !slices.Equal(got, want) {
			t.Fatalf("round %d: sortOrder = %v, want %v", round, got, want)
		}
	}
}

// BenchmarkSortOrder orders 100,000 messages by subjects shaped like
// bench/compare's (three words; six in ten replies to one of the last
// 500, so threads share a subject) and by 400 senders: sortOrder against
// the full comparison it replaces.
func BenchmarkSortOrder(b *testing.B) {
	const n = 100000
	rng := rand.New(rand.NewPCG(7, 2026))
	words := strings.Fields(`report meeting budget invoice schedule project review draft
release server backup deploy quarterly agenda notes summary update request contract
travel lunch design test failure success customer order shipping account security`)
	subjects := make([]string, n)
	froms := make([]string, n)
	for i := range subjects {
		if i > 0 && rng.IntN(10) < 6 {
			subjects[i] = "Re: " + strings.TrimPrefix(subjects[max(0, i-1-rng.IntN(min(i, 500)))], "Re: ")
		} else {
			subjects[i] = fmt.Sprintf("%s %s %s", words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))])
		}
		froms[i] = fmt.Sprintf("p%d@example.org", rng.IntN(400))
	}
	for _, tc := range []struct {
		name string
		col  sortColumn
	}{{"subject", subjectColumn(subjects, false)}, {"from", rawColumn(froms, false)}} {
		cols := []sortColumn{tc.col}
		b.Run(tc.name+"/sortOrder", func(b *testing.B) {
			for b.Loop() {
				sortOrder(cols, n)
			}
		})
		b.Run(tc.name+"/reference", func(b *testing.B) {
			for b.Loop() {
				referenceOrder(cols, n)
			}
		})
	}
}
