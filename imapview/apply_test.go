package imapview

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// TestApply applies the same change to a view with records (awake) and
// to one with UID ranges only (asleep, as a hibernated session holds
// it): both must tell the client the same and end with the same UIDs.
func TestApply(t *testing.T) {
	r := func(a ...uint32) []hibernate.UIDRange {
		var rs []hibernate.UIDRange
		for i := 0; i < len(a); i += 2 {
			rs = append(rs, hibernate.UIDRange{First: a[i], Last: a[i+1]})
		}
		return rs
	}
	for _, tc := range []struct {
		s         []hibernate.UIDRange
		uidNext   uint32
		expunged  []uint32
		changed   []uint32
		wantSeqs  []uint32 // EXPUNGE, descending
		wantKept  []uint32 // sequence numbers of FETCH, new numbering
		wantAdded int
		wantS     []hibernate.UIDRange
	}{
		{r(1, 10), 11, nil, []uint32{11, 12}, nil, nil, 2, r(1, 12)},
		{r(1, 10), 11, []uint32{1, 5, 10}, nil, []uint32{10, 5, 1}, nil, 0, r(2, 4, 6, 9)},
		{r(1, 3, 7, 9), 12, []uint32{2, 4, 8, 11}, []uint32{3, 9, 12}, []uint32{5, 2}, []uint32{2, 4}, 1, r(1, 1, 3, 3, 7, 7, 9, 9, 12, 12)},
		{r(5, 5), 6, []uint32{5}, []uint32{6}, []uint32{1}, nil, 1, r(6, 6)},
		{nil, 1, []uint32{3}, []uint32{1, 2}, nil, nil, 2, r(1, 2)},
		// A changed record not in S (and below UIDNEXT) is ignored.
		{r(1, 2, 4, 4), 5, nil, []uint32{3, 4}, nil, []uint32{3}, 0, r(1, 2, 4, 4)},
	} {
		t.Run(fmt.Sprint(tc.s, tc.expunged, tc.changed), func(t *testing.T) {
			ch := mailstore.Changes{UIDValidity: 7, UIDNext: tc.uidNext, HighestModSeq: 100, Expunged: tc.expunged}
			for _, u := range tc.changed {
				ch.Changed = append(ch.Changed, mailstore.Message{UID: u, ModSeq: 100})
				ch.UIDNext = max(ch.UIDNext, u+1)
			}
			st := &hibernate.State{UIDValidity: 7, UIDs: tc.s, UIDNext: tc.uidNext, HighestModSeq: 50}
			for _, x := range tc.s {
				st.Messages += x.Last - x.First + 1
			}
			asleep, err := FromState(st)
			if err != nil {
				t.Fatal(err)
			}
			snap := mailstore.Snapshot{UIDValidity: 7, UIDNext: tc.uidNext, HighestModSeq: 50}
			for _, x := range tc.s {
				for u := x.First; u <= x.Last; u++ {
					snap.Messages.Append([]mailstore.Message{{UID: u, ModSeq: 50}})
				}
			}
			awake := New(snap, true, 0, 0)
			var ups [2]Update
			for i, v := range []*View{asleep, awake} {
				up, err := v.Apply(ch, nil)
				if err != nil {
					t.Fatal(err)
				}
				var kept []uint32
				for _, f := range up.Changed {
					kept = append(kept, f.Seq)
				}
				var got hibernate.State
				v.Export(&got)
				if !slices.Equal(up.ExpungedSeqs, tc.wantSeqs) || !slices.Equal(kept, tc.wantKept) ||
					up.Added != tc.wantAdded || !slices.Equal(got.UIDs, tc.wantS) || up.Exists != v.Len() {
					t.Errorf("view %d: got seqs %v kept %v added %d S %v; want %v %v %d %v",
						i, up.ExpungedSeqs, kept, up.Added, got.UIDs, tc.wantSeqs, tc.wantKept, tc.wantAdded, tc.wantS)
				}
				ups[i] = up
			}
			if !reflect.DeepEqual(ups[0], ups[1]) {
				t.Errorf("asleep and awake differ:\n%+v\n%+v", ups[0], ups[1])
			}
		})
	}
}

// TestApplyTold: what the session reported itself is not reported again,
// and is forgotten after one Apply.
func TestApplyTold(t *testing.T) {
	snap := mailstore.Snapshot{UIDValidity: 1, UIDNext: 3, HighestModSeq: 5,
		Messages: mailstore.ListOf([]mailstore.Message{{UID: 1, ModSeq: 4}, {UID: 2, ModSeq: 5}})}
	v := New(snap, false, 0, 0)
	v.SetRecords([]mailstore.Message{{UID: 2, ModSeq: 6, Flags: []string{`\Seen`}}})
	ch := mailstore.Changes{UIDValidity: 1, UIDNext: 3, HighestModSeq: 7,
		Changed: []mailstore.Message{{UID: 1, ModSeq: 7}, {UID: 2, ModSeq: 6, Flags: []string{`\Seen`}}}}
	up, err := v.Apply(ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Changed) != 1 || up.Changed[0].Seq != 1 {
		t.Errorf("Changed = %+v, want message 1 only", up.Changed)
	}
	if snap.Messages.ModSeq(1) != 5 {
		t.Errorf("the shared list was changed in place")
	}
	if _, err := v.Apply(mailstore.Changes{UIDValidity: 2}, nil); err == nil {
		t.Errorf("a new UIDVALIDITY was applied")
	}
}

// TestApplyHighestModSeq: Update.HighestModSeq is the new HIGHESTMODSEQ
// when no FETCH carries it, told or to be told, as after an EXISTS or an
// expunge (RFC 7162 3.1.2.1, Dovecot's rule); 0 when a FETCH does or
// nothing moved. Awake and asleep views agree.
func TestApplyHighestModSeq(t *testing.T) {
	m := func(uid uint32, modseq uint64) mailstore.Message { return mailstore.Message{UID: uid, ModSeq: modseq} }
	for _, tc := range []struct {
		name     string
		told     []mailstore.Message // the session's own STORE replies
		changed  []mailstore.Message
		expunged []uint32
		highest  uint64
		uidNext  uint32
		want     uint64
	}{
		{"nothing moved", nil, nil, nil, 5, 3, 0},
		{"flag change", nil, []mailstore.Message{m(1, 6)}, nil, 6, 3, 0},
		{"new message", nil, []mailstore.Message{m(3, 6)}, nil, 6, 4, 6},
		{"expunge", nil, nil, []uint32{2}, 6, 3, 6},
		{"flag change, then new message", nil, []mailstore.Message{m(1, 6), m(3, 7)}, nil, 7, 4, 7},
		{"new message, then flag change", nil, []mailstore.Message{m(1, 7), m(3, 6)}, nil, 7, 4, 0},
		{"own STORE", []mailstore.Message{m(2, 6)}, []mailstore.Message{m(2, 6)}, nil, 6, 3, 0},
		{"own STORE, then new message", []mailstore.Message{m(2, 6)}, []mailstore.Message{m(2, 6), m(3, 7)}, nil, 7, 4, 7},
		{"added and expunged unseen", nil, nil, []uint32{3}, 8, 4, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := mailstore.Snapshot{UIDValidity: 1, UIDNext: 3, HighestModSeq: 5,
				Messages: mailstore.ListOf([]mailstore.Message{m(1, 4), m(2, 5)})}
			awake := New(snap, true, 0, 0)
			awake.SetRecords(tc.told)
			var st hibernate.State
			awake.Export(&st)
			asleep, err := FromState(&st)
			if err != nil {
				t.Fatal(err)
			}
			ch := mailstore.Changes{UIDValidity: 1, UIDNext: tc.uidNext, HighestModSeq: tc.highest,
				Changed: tc.changed, Expunged: tc.expunged}
			for i, v := range []*View{awake, asleep} {
				up, err := v.Apply(ch, nil)
				if err != nil {
					t.Fatal(err)
				}
				if up.HighestModSeq != tc.want {
					t.Errorf("view %d: HighestModSeq %d, want %d", i, up.HighestModSeq, tc.want)
				}
			}
		})
	}
}

func TestRemoveUIDs(t *testing.T) {
	got := removeUIDs([]uint32{1, 2, 3, 5, 8}, []uint32{2, 5, 6})
	if len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 8 {
		t.Fatalf("removeUIDs = %v", got)
	}
}
