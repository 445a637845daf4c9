package imapserver

import (
	"fmt"
	"slices"
	"testing"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// TestDeltaOf checks deltaOf against the same change applied to the
// expanded UID list, as Refresh applies it to a view.
func TestDeltaOf(t *testing.T) {
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
		wantAdded []uint32
		wantS     []hibernate.UIDRange
	}{
		{r(1, 10), 11, nil, []uint32{11, 12}, nil, nil, []uint32{11, 12}, r(1, 12)},
		{r(1, 10), 11, []uint32{1, 5, 10}, nil, []uint32{10, 5, 1}, nil, nil, r(2, 4, 6, 9)},
		{r(1, 3, 7, 9), 12, []uint32{2, 4, 8, 11}, []uint32{3, 9, 12}, []uint32{5, 2}, []uint32{2, 4}, []uint32{12}, r(1, 1, 3, 3, 7, 7, 9, 9, 12, 12)},
		{r(5, 5), 6, []uint32{5}, []uint32{6}, []uint32{1}, nil, []uint32{6}, r(6, 6)},
		{nil, 1, []uint32{3}, []uint32{1, 2}, nil, nil, []uint32{1, 2}, r(1, 2)},
		// A changed record not in S (and below UIDNEXT) is ignored.
		{r(1, 2, 4, 4), 5, nil, []uint32{3, 4}, nil, []uint32{3}, nil, r(1, 2, 4, 4)},
	} {
		t.Run(fmt.Sprint(tc.s, tc.expunged, tc.changed), func(t *testing.T) {
			var msgs []mailstore.Message
			for _, u := range tc.changed {
				msgs = append(msgs, mailstore.Message{UID: u})
			}
			d := deltaOf(tc.s, tc.uidNext, tc.expunged, msgs)
			var kept []uint32
			for _, k := range d.kept {
				kept = append(kept, k.seq)
			}
			if !slices.Equal(d.goneSeqs, tc.wantSeqs) || !slices.Equal(kept, tc.wantKept) ||
				!slices.Equal(d.added, tc.wantAdded) || !slices.Equal(d.uids, tc.wantS) {
				t.Errorf("got seqs %v kept %v added %v S %v; want %v %v %v %v",
					d.goneSeqs, kept, d.added, d.uids, tc.wantSeqs, tc.wantKept, tc.wantAdded, tc.wantS)
			}
		})
	}
}

func TestReidleTag(t *testing.T) {
	for _, tc := range []struct {
		in  string
		tag string
		ok  bool
	}{
		{"DONE\r\na1 IDLE\r\n", "a1", true},
		{"done\r\nA.2 idle\r\n", "A.2", true},
		{"DONE\na1 IDLE\n", "a1", true},
		{"DONE\r\n", "", false},              // the IDLE may follow: wake
		{"DONE\r\na1 IDLE", "", false},       // partial line
		{"DONE\r\na1 IDLE\r\nx", "", false},  // more after it
		{"DONE\r\na1 NOOP\r\n", "", false},   // another command
		{"DONE\r\na+ IDLE\r\n", "", false},   // bad tag
		{"DONE\r\na1 IDLE x\r\n", "", false}, // arguments
		{"DONE \r\na1 IDLE\r\n", "", false},  // not DONE: BAD in an active session
		{"DONE\r\n\r\na1 IDLE\r\n", "", false},
		{"DONE\r\na1  IDLE\r\n", "", false},
	} {
		tag, ok := reidleTag([]byte(tc.in))
		if tag != tc.tag || ok != tc.ok {
			t.Errorf("reidleTag(%q) = %q, %v; want %q, %v", tc.in, tag, ok, tc.tag, tc.ok)
		}
	}
}
