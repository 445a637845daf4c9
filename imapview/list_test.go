package imapview

import (
	"fmt"
	"slices"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// sameMessage compares two records field by field.
func sameMessage(a, b mailstore.Message) bool {
	return a.UID == b.UID && a.ModSeq == b.ModSeq && slices.Equal(a.Flags, b.Flags) &&
		a.Size == b.Size && a.InternalDate == b.InternalDate && a.SaveDate == b.SaveDate
}

// TestViewsCopyOnWrite: views of one mailbox state share the store's
// list; a session's own STORE (SetRecords), a change it learns (Apply)
// and an expunge change only that session's view: the snapshot the views
// came from and the views that have not applied the change still read
// the old records, and every view reads the new ones after its Apply.
func TestViewsCopyOnWrite(t *testing.T) {
	const n = 5*mailstore.ModSeqBlock + 3
	old := make([]mailstore.Message, n)
	for i := range old {
		old[i] = mailstore.Message{UID: uint32(i + 1), ModSeq: 10, Size: int64(i)}
	}
	snap := mailstore.Snapshot{UIDValidity: 1, UIDNext: n + 1, HighestModSeq: 10, Messages: mailstore.ListOf(old)}
	flagged := []mailstore.Message{{UID: 2, ModSeq: 11, Flags: []string{`\Flagged`}}, {UID: 200, ModSeq: 12, Flags: []string{`\Seen`}}}
	changes := []mailstore.Changes{
		{UIDValidity: 1, UIDNext: n + 1, HighestModSeq: 12, Changed: flagged},
		{UIDValidity: 1, UIDNext: n + 2, HighestModSeq: 14, Expunged: []uint32{3, 130},
			Changed: []mailstore.Message{{UID: 64, ModSeq: 13, Flags: []string{`\Answered`}}, {UID: n + 1, ModSeq: 14}}},
	}
	// want[k] is the mailbox after changes[:k].
	want := [][]mailstore.Message{old}
	for _, ch := range changes {
		next := slices.Clone(want[len(want)-1])
		for _, m := range ch.Changed {
			if i := slices.IndexFunc(next, func(x mailstore.Message) bool { return x.UID == m.UID }); i >= 0 {
				next[i] = m
			} else {
				next = append(next, m)
			}
		}
		next = slices.DeleteFunc(next, func(m mailstore.Message) bool { return slices.Contains(ch.Expunged, m.UID) })
		want = append(want, next)
	}
	check := func(t *testing.T, what string, l *mailstore.MessageList, want []mailstore.Message) {
		t.Helper()
		if got := l.Messages(); !slices.EqualFunc(got, want, sameMessage) {
			t.Fatalf("%s: %d messages %v..., want %d %v...", what, len(got), got[:4], len(want), want[:4])
		}
	}

	storer, other, late := New(snap, false, 0, 0), New(snap, false, 0, 0), New(snap, false, 0, 0)
	// The storing session's own STORE, before the store's change arrives.
	storer.SetRecords(flagged)
	check(t, "the storing view", &storer.Messages, want[1])
	check(t, "the snapshot", &snap.Messages, want[0])
	check(t, "another view before its Apply", &other.Messages, want[0])
	stale := storer.Messages.Share() // what a snapshot of the storing view holds

	for k, ch := range changes {
		for _, v := range []*View{storer, other} {
			if _, err := v.Apply(ch, nil); err != nil {
				t.Fatal(err)
			}
			check(t, fmt.Sprintf("a view after Apply %d", k+1), &v.Messages, want[k+1])
		}
		check(t, "the snapshot", &snap.Messages, want[0])
		check(t, "the snapshot of the storing view", &stale, want[1])
		check(t, "the view not applying", &late.Messages, want[0])
	}
	for k, ch := range changes {
		if _, err := late.Apply(ch, nil); err != nil {
			t.Fatal(err)
		}
		check(t, fmt.Sprintf("the late view after Apply %d", k+1), &late.Messages, want[k+1])
	}
	for _, v := range []*View{storer, other, late} {
		var got []uint32
		for s := range v.ChangedSince(10) {
			got = append(got, v.Messages.UID(int(s-1)))
		}
		if want := []uint32{2, 64, 200, n + 1}; !slices.Equal(got, want) {
			t.Fatalf("changed since 10: %v, want %v", got, want)
		}
	}
}
