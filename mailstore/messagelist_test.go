package mailstore

import (
	"slices"
	"testing"
)

// TestMessageListCopyOnWrite: a list that writes (Set, Append, Remove)
// reads back as a plain slice changed the same way would, while the list
// it was shared from (a stale snapshot, another view) reads exactly as
// before; only the blocks a write touched are copied, the others stay
// shared; and a list shared from the writer afterwards does not see the
// writer's later writes.
func TestMessageListCopyOnWrite(t *testing.T) {
	const n = 3*ModSeqBlock + 10 // four blocks, the last short
	seen, flagged := []string{`\Seen`}, []string{`\Flagged`}
	base := func() []Message {
		msgs := make([]Message, n)
		for i := range msgs {
			msgs[i] = Message{UID: uint32(2*i + 1), ModSeq: 5, Size: int64(i), InternalDate: Timestamp(i), SaveDate: Timestamp(-i)}
			if i%3 == 0 {
				msgs[i].Flags = seen
			}
		}
		return msgs
	}
	uidsFrom := func(from, to int) []uint32 { // UIDs of indexes [from, to)
		var u []uint32
		for i := from; i < to; i++ {
			u = append(u, uint32(2*i+1))
		}
		return u
	}
	type op struct {
		set    map[int]Message // index -> new record
		add    []Message
		remove []uint32
	}
	tests := []struct {
		name   string
		ops    []op
		copied int // blocks of the writer not shared with the original
	}{
		{"one flag change", []op{{set: map[int]Message{70: {UID: 141, ModSeq: 9, Flags: flagged}}}}, 1},
		{"changes in two blocks", []op{{set: map[int]Message{0: {UID: 1, ModSeq: 9, Flags: flagged}, n - 1: {UID: 2*n - 1, ModSeq: 10, Flags: seen}}}}, 2},
		{"the same block twice", []op{
			{set: map[int]Message{3: {UID: 7, ModSeq: 9, Flags: flagged}}},
			{set: map[int]Message{4: {UID: 9, ModSeq: 10, Flags: []string{`\Deleted`}}}},
		}, 1},
		{"new messages fill the short block and open one", []op{{add: func() []Message {
			var a []Message
			for u := uint32(2*n + 1); u < 2*n+1+140; u += 2 {
				a = append(a, Message{UID: u, ModSeq: 11, Flags: []string{"$Label"}})
			}
			return a
		}()}}, 2},
		{"expunges in two blocks, then a change after them", []op{
			{remove: []uint32{3, 5, 131}},
			{set: map[int]Message{100: {UID: 207, ModSeq: 12, Flags: flagged}}},
		}, 2},
		{"a whole block expunged", []op{{remove: uidsFrom(ModSeqBlock, 2*ModSeqBlock)}}, 0},
		{"everything expunged, then a new message", []op{{remove: uidsFrom(0, n)}, {add: []Message{{UID: 999, ModSeq: 13}}}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := base()
			orig := ListOf(base())
			w := orig.Share()
			var stale MessageList // shared from the writer after its first write
			for k, o := range tt.ops {
				for i, m := range o.set {
					w.Set(i, m)
					want[i] = m
				}
				w.Append(o.add)
				want = append(want, o.add...)
				w.Remove(o.remove)
				want = slices.DeleteFunc(want, func(m Message) bool { _, ok := slices.BinarySearch(o.remove, m.UID); return ok })
				if k == 0 && len(tt.ops) > 1 {
					stale = w.Share()
					checkList(t, "the snapshot of the writer", &stale, want)
					want = slices.Clone(want)
				}
			}
			checkList(t, "the writer", &w, want)
			checkList(t, "the original", &orig, base())
			if len(tt.ops) > 1 {
				// stale must still read as after the first op: replay it.
				first := ListOf(base())
				o := tt.ops[0]
				for i, m := range o.set {
					first.Set(i, m)
				}
				first.Append(o.add)
				first.Remove(o.remove)
				checkList(t, "the snapshot of the writer", &stale, first.Messages())
			}
			if got := copiedBlocks(&w, &orig); got != tt.copied {
				t.Errorf("the writer copied %d blocks, want %d", got, tt.copied)
			}
		})
	}
}

// checkList fails t unless l reads as want, by every accessor.
func checkList(t *testing.T, what string, l *MessageList, want []Message) {
	t.Helper()
	if l.Len() != len(want) {
		t.Fatalf("%s: %d messages, want %d", what, l.Len(), len(want))
	}
	for i, m := range l.All() {
		if !sameRecord(m, want[i]) || !sameRecord(l.At(i), want[i]) || l.UID(i) != want[i].UID ||
			l.ModSeq(i) != want[i].ModSeq || !slices.Equal(l.Flags(i), want[i].Flags) {
			t.Fatalf("%s: message %d is %+v, want %+v", what, i, m, want[i])
		}
		if j, ok := l.Find(want[i].UID); !ok || j != i {
			t.Fatalf("%s: Find(%d) = %d, %v; want %d", what, want[i].UID, j, ok, i)
		}
		if j, ok := l.Find(want[i].UID + 1); ok || j != i+1 {
			t.Fatalf("%s: Find(%d) = %d, %v; want %d, false", what, want[i].UID+1, j, ok, i+1)
		}
	}
	for _, since := range []uint64{0, 5, 9, 11, 100} {
		var walk, got []int
		for i, m := range want {
			if m.ModSeq > since {
				walk = append(walk, i)
			}
		}
		for i := range l.ChangedSince(since) {
			got = append(got, i)
		}
		if !slices.Equal(got, walk) {
			t.Fatalf("%s: ChangedSince(%d) = %v, a walk finds %v", what, since, got, walk)
		}
	}
}

func sameRecord(a, b Message) bool {
	return a.UID == b.UID && a.ModSeq == b.ModSeq && slices.Equal(a.Flags, b.Flags) &&
		a.Size == b.Size && a.InternalDate == b.InternalDate && a.SaveDate == b.SaveDate
}

// copiedBlocks counts the blocks of w that are not blocks of orig.
func copiedBlocks(w, orig *MessageList) int {
	n := 0
	for _, b := range w.blocks {
		if !slices.Contains(orig.blocks, b) {
			n++
		}
	}
	return n
}

// TestListBuilderEntry: an entry is the 40 bytes the list is designed
// for, and messages with the same Flags slice share one flag-table entry.
func TestListBuilderEntry(t *testing.T) {
	if MessageListEntryBytes != 40 {
		t.Errorf("an entry is %d bytes, want 40", MessageListEntryBytes)
	}
	sets := [][]string{nil, {`\Seen`}, {`\Answered`, `\Seen`}, {"$Label1", `\Seen`}}
	var b ListBuilder
	for i := range 1000 {
		b.Add(Message{UID: uint32(i + 1), Flags: sets[i%len(sets)]})
	}
	l := b.List()
	if len(l.flags) != len(sets) {
		t.Errorf("flag table of %d entries, want %d: %v", len(l.flags), len(sets), l.flags)
	}
	w := l.Share()
	for i := range 200 {
		w.Set(i, Message{UID: uint32(i + 1), Flags: slices.Clone(sets[1])}) // equal, not the same slice
	}
	if len(w.flags) != len(sets) {
		t.Errorf("a writer's table grew to %d entries for a set it had", len(w.flags))
	}
}

// TestListBuilderGrow: a Grow after some Adds does not hand out the room
// the blocks already added use.
func TestListBuilderGrow(t *testing.T) {
	var b ListBuilder
	var want []Message
	for _, step := range []struct{ grow, add int }{{128, 65}, {64, 64}, {10, 10}, {200, 150}, {0, 5}} {
		b.Grow(step.grow)
		for range step.add {
			m := Message{UID: uint32(2*len(want) + 1), ModSeq: uint64(len(want) + 1)}
			b.Add(m)
			want = append(want, m)
		}
	}
	l := b.List()
	checkList(t, "the list built", &l, want)
}
