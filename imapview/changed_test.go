package imapview

import (
	"slices"
	"testing"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// TestChangedSince: the view's MODSEQ summary finds exactly the messages
// a walk over every record finds, after each kind of change that moves
// or rewrites records (own STORE, TellFlags, Apply's flag changes,
// expunges that shift records into the run before, new messages that
// open a run, Restore), and a change never writes into the summary the
// view shares with the store's list.
func TestChangedSince(t *testing.T) {
	const n = 3*mailstore.ModSeqBlock + 10
	const base = 5 // every message's MODSEQ in the snapshot
	snapshot := func() mailstore.Snapshot {
		msgs := make([]mailstore.Message, n)
		for i := range msgs {
			msgs[i] = mailstore.Message{UID: uint32(i + 1), ModSeq: base}
		}
		return mailstore.Snapshot{UIDValidity: 1, UIDNext: n + 1, HighestModSeq: base,
			Messages: mailstore.ListOf(msgs)}
	}
	noLog := func() ([]mailstore.Message, error) { return nil, nil }
	apply := func(t *testing.T, v *View, ch mailstore.Changes) {
		t.Helper()
		ch.UIDValidity = 1
		if _, err := v.Apply(ch, nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		change func(t *testing.T, v *View)
		want   []uint32 // UIDs changed since base
	}{
		{"unchanged", func(*testing.T, *View) {}, nil},
		{"own store", func(_ *testing.T, v *View) {
			v.SetRecords([]mailstore.Message{{UID: 70, ModSeq: 9}, {UID: 200, ModSeq: 10}})
		}, []uint32{70, 200}},
		{"told flags", func(t *testing.T, v *View) {
			if _, err := v.TellFlags(mailstore.Changes{UIDValidity: 1, UIDNext: n + 1, HighestModSeq: 8,
				Changed: []mailstore.Message{{UID: 130, ModSeq: 8}}}, noLog); err != nil {
				t.Fatal(err)
			}
		}, []uint32{130}},
		{"applied flags", func(t *testing.T, v *View) {
			apply(t, v, mailstore.Changes{UIDNext: n + 1, HighestModSeq: 9,
				Changed: []mailstore.Message{{UID: 1, ModSeq: 7}, {UID: n, ModSeq: 9}}})
		}, []uint32{1, n}},
		{"expunge shifts a changed record into the run before", func(t *testing.T, v *View) {
			edge := uint32(mailstore.ModSeqBlock + 1) // the first of the second run
			apply(t, v, mailstore.Changes{UIDNext: n + 1, HighestModSeq: 8,
				Changed: []mailstore.Message{{UID: edge, ModSeq: 8}}})
			apply(t, v, mailstore.Changes{UIDNext: n + 1, HighestModSeq: 9, Expunged: []uint32{1, 2}})
		}, []uint32{mailstore.ModSeqBlock + 1}},
		{"new messages open runs", func(t *testing.T, v *View) {
			var added []mailstore.Message
			for u := uint32(n + 1); u <= n+2*mailstore.ModSeqBlock; u++ {
				added = append(added, mailstore.Message{UID: u, ModSeq: base})
			}
			added[len(added)-1].ModSeq = 11
			apply(t, v, mailstore.Changes{UIDNext: n + 2*mailstore.ModSeqBlock + 1, HighestModSeq: 11, Changed: added})
		}, []uint32{n + 2*mailstore.ModSeqBlock}},
		{"restored from sleep", func(t *testing.T, v *View) {
			var st hibernate.State
			v.Export(&st)
			w, err := FromState(&st)
			if err != nil {
				t.Fatal(err)
			}
			snap := snapshot()
			snap.Messages.Set(99, mailstore.Message{UID: 100, ModSeq: 12})
			snap.HighestModSeq = 12
			if err := w.Restore(snap, noLog); err != nil {
				t.Fatal(err)
			}
			*v = *w
		}, []uint32{100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := snapshot()
			shared := snap.Messages.Messages()
			v := New(snap, false, 0, 0)
			tt.change(t, v)
			for _, since := range []uint64{0, base - 1, base, base + 1, 8, 100} {
				var walk, got []uint32
				for i, m := range v.Messages.All() {
					if m.ModSeq > since {
						walk = append(walk, uint32(i+1))
					}
				}
				for s := range v.ChangedSince(since) {
					got = append(got, s)
				}
				if !slices.Equal(got, walk) {
					t.Fatalf("ChangedSince(%d) = %v, a walk finds %v", since, got, walk)
				}
			}
			var uids []uint32
			for s := range v.ChangedSince(base) {
				uids = append(uids, v.Messages.UID(int(s-1)))
			}
			if !slices.Equal(uids, tt.want) {
				t.Fatalf("changed since %d: UIDs %v, want %v", base, uids, tt.want)
			}
			if got := snap.Messages.Messages(); !slices.EqualFunc(got, shared, sameMessage) {
				t.Fatal("the change wrote into the list shared with the store")
			}
		})
	}
}
