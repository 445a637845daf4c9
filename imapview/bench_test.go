package imapview

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// benchSizes are the mailbox sizes of the list benchmarks: those of
// bench/compare's -parts large.
var benchSizes = []int{100_000, 1_000_000}

// benchFlags are the flag sets of a benchmark list: a store shares one
// slice per distinct set among its messages.
var benchFlags = [][]string{nil, {`\Seen`}, {`\Answered`, `\Seen`}}

// benchSnapshot is a mailbox of n messages as the store hands it to the
// views of one state: a fifth unseen, one MODSEQ each.
func benchSnapshot(n int) mailstore.Snapshot {
	msgs := make([]mailstore.Message, n)
	for i := range msgs {
		msgs[i] = mailstore.Message{UID: uint32(i + 1), ModSeq: uint64(i + 1), Flags: benchFlags[min(i%5, 2)],
			Size: 300 + int64(i%1000), InternalDate: mailstore.Timestamp(1_700_000_000e9 + int64(i)*1e9),
			SaveDate: mailstore.Timestamp(1_700_000_000e9 + int64(i)*1e9 + 5)}
	}
	return mailstore.Snapshot{UIDValidity: 1, UIDNext: uint32(n + 1), HighestModSeq: uint64(n),
		Messages: mailstore.ListOf(msgs)}
}

// benchChanges are 100 flag changes spread over a mailbox of n messages
// (bench/compare's STORE before its CHANGEDSINCE), with MODSEQs from
// n+1 on.
func benchChanges(n int) mailstore.Changes {
	ch := mailstore.Changes{UIDValidity: 1, UIDNext: uint32(n + 1), HighestModSeq: uint64(n + 100)}
	for i := range 100 {
		ch.Changed = append(ch.Changed, mailstore.Message{UID: uint32(1 + i*(n/100)), ModSeq: uint64(n + 1 + i),
			Flags: []string{`\Flagged`}})
	}
	return ch
}

// BenchmarkChangedSince is bench/compare's CHANGEDSINCE row without
// sockets or store: after 100 flag changes, a session's next command
// applies them (Apply) and answers UID FETCH 1:* (FLAGS) (CHANGEDSINCE
// m) from the view (ChangedSince). "own" is the session that made the
// changes (its STORE put them into its view, untimed); "other" a session
// that learns them at this command.
func BenchmarkChangedSince(b *testing.B) {
	for _, n := range benchSizes {
		snap := benchSnapshot(n)
		ch := benchChanges(n)
		for _, who := range []string{"own", "other"} {
			b.Run(fmt.Sprintf("%s/%d", who, n), func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					v := New(snap, false, 0, 0)
					if who == "own" {
						v.SetRecords(ch.Changed)
					}
					b.StartTimer()
					if _, err := v.Apply(ch, nil); err != nil {
						b.Fatal(err)
					}
					found := 0
					for range v.ChangedSince(uint64(n)) {
						found++
					}
					if found != 100 {
						b.Fatalf("found %d changes, want 100", found)
					}
				}
			})
		}
	}
}

// BenchmarkFirstChange is a session's first flag change on a view that
// shares the store's list (its own STORE): what it copies.
func BenchmarkFirstChange(b *testing.B) {
	for _, n := range benchSizes {
		snap := benchSnapshot(n)
		rec := []mailstore.Message{{UID: uint32(n / 2), ModSeq: uint64(n + 1), Flags: []string{`\Flagged`}}}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				v := New(snap, false, 0, 0)
				b.StartTimer()
				v.SetRecords(rec)
			}
		})
	}
}

// BenchmarkListBytes reports the heap a mailbox's list takes per message
// (B/msg: the store's list, shared by its views) and what a view that
// changes one flag adds to it (B/change).
func BenchmarkListBytes(b *testing.B) {
	const n = 1_000_000
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var perMsg, perChange float64
	for b.Loop() {
		h0 := heap()
		snap := benchSnapshot(n)
		v := New(snap, false, 0, 0)
		h1 := heap()
		v.SetRecords([]mailstore.Message{{UID: n / 2, ModSeq: n + 1, Flags: []string{`\Flagged`}}})
		h2 := heap()
		perMsg = float64(h1-h0) / n
		perChange = float64(h2 - h1)
		runtime.KeepAlive(snap)
		runtime.KeepAlive(v)
	}
	b.ReportMetric(perMsg, "B/msg")
	b.ReportMetric(perChange, "B/change")
}
