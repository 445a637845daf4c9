package imapview

import (
	"fmt"
	"testing"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// TestHeldBack: at the end of a command that may not tell expunges,
// the client is told the view's HIGHESTMODSEQ again when the session
// told a MODSEQ above it while an expunge of a message it holds is
// pending (RFC 7162 3.2), else nothing; the next Apply then tells the
// new HIGHESTMODSEQ even though a FETCH carried it, also after the view
// went through the state blob (asleep).
func TestHeldBack(t *testing.T) {
	m := func(uid uint32, modseq uint64) mailstore.Message { return mailstore.Message{UID: uid, ModSeq: modseq} }
	for _, tc := range []struct {
		name      string
		told      []mailstore.Message // the session's own STORE replies
		expunged  []uint32            // pending
		want      uint64              // HeldBack
		wantApply uint64              // the next Apply's HighestModSeq
	}{
		{"nothing told, expunge pending", nil, []uint32{2}, 0, 7},
		{"told, no expunge", []mailstore.Message{m(1, 7)}, nil, 0, 0},
		{"told, expunge pending", []mailstore.Message{m(1, 7)}, []uint32{2}, 5, 7},
		{"told, expunge of a message not in the view", []mailstore.Message{m(1, 7)}, []uint32{9}, 0, 0},
		{"told at the view's HIGHESTMODSEQ", []mailstore.Message{m(1, 5)}, []uint32{2}, 0, 7},
	} {
		for _, asleep := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/asleep=%v", tc.name, asleep), func(t *testing.T) {
				snap := mailstore.Snapshot{UIDValidity: 1, UIDNext: 3, HighestModSeq: 5,
					Messages: mailstore.ListOf([]mailstore.Message{m(1, 4), m(2, 5)})}
				v := New(snap, true, 0, 0)
				v.SetRecords(tc.told)
				ch := mailstore.Changes{UIDValidity: 1, UIDNext: 3, HighestModSeq: 7, Expunged: tc.expunged, Changed: tc.told}
				if got := v.HeldBack(ch); got != tc.want {
					t.Errorf("HeldBack = %d, want %d", got, tc.want)
				}
				if asleep {
					var st hibernate.State
					v.Export(&st)
					var err error
					if v, err = FromState(&st); err != nil {
						t.Fatal(err)
					}
				}
				up, err := v.Apply(ch, nil)
				if err != nil {
					t.Fatal(err)
				}
				if up.HighestModSeq != tc.wantApply {
					t.Errorf("the next Apply's HighestModSeq = %d, want %d", up.HighestModSeq, tc.wantApply)
				}
				// Told once: the Apply after says nothing more.
				if up, _ := v.Apply(mailstore.Changes{UIDValidity: 1, UIDNext: 3, HighestModSeq: 7}, nil); up.HighestModSeq != 0 {
					t.Errorf("a second Apply tells HIGHESTMODSEQ %d", up.HighestModSeq)
				}
			})
		}
	}
}
