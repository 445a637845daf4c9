package searchindex

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// BenchmarkBulkBuild indexes a mailbox of small messages the way a
// background build does (segments of backgroundEntries postings, merged
// once at the end): its time and the bytes it allocates, which is what
// makes a server's heap float while a build runs.
func BenchmarkBulkBuild(b *testing.B) {
	const backgroundEntries = 256 << 10 // imapserver's searchBuildEntries
	for _, n := range []int{20000, 100000} {
		msgs := make([]string, n)
		for i := range msgs {
			msgs[i] = benchMessage(i)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				ix, err := Open(b.TempDir(), 1, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				bl := NewBuilderLimit(backgroundEntries)
				for i, m := range msgs {
					if err := bl.Add(uint32(i+1), stringTexts(m)); err != nil {
						b.Fatal(err)
					}
					if bl.Full() {
						if err := ix.Add(bl); err != nil {
							b.Fatal(err)
						}
						bl.Reset()
					}
				}
				if err := ix.Add(bl); err != nil {
					b.Fatal(err)
				}
				if err := ix.Compact(func(uint32) bool { return true }); err != nil {
					b.Fatal(err)
				}
				if len(ix.segs) != 1 {
					b.Fatalf("%d segments after Compact", len(ix.segs))
				}
				ix.Close()
			}
		})
	}
}

// stringTexts gives s as a message's one text.
func stringTexts(s string) Texts {
	return func(fn func(io.Reader) bool) { fn(strings.NewReader(s)) }
}

// benchMessage is a few hundred bytes of header and body, shaped like
// bench/compare's large mailbox: numbers, addresses, a few words.
func benchMessage(i int) string {
	words := []string{"alpha", "budget", "meeting", "invoice", "project", "report", "review", "schedule", "travel", "update", "quarterly", "planning"}
	w := func(k int) string { return words[k%len(words)] }
	return fmt.Sprintf("message-id: <large-%07d@example.org>\ndate: mon, %d jan 2026 %02d:%02d:00 +0000\nfrom: \"person %d\" <p%d@example.org>\nto: reader@example.org\nsubject: %s %s %d\n%s %s %s\n",
		i, 1+i%28, i/60%24, i%60, i%400, i%400, w(i), w(i/7), i, w(i/3), w(i/11), w(i/13))
}
