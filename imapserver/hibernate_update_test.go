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

func TestAnswerAsleep(t *testing.T) {
	for _, tc := range []struct {
		idleTag, in string
		out, tag    string
		ok          bool
	}{
		{"i0", "DONE\r\na1 IDLE\r\n", "i0 OK IDLE terminated\r\n+ idling\r\n", "a1", true},
		{"i0", "done\r\nA.2 idle\r\n", "i0 OK IDLE terminated\r\n+ idling\r\n", "A.2", true},
		{"i0", "DONE\na1 IDLE\n", "i0 OK IDLE terminated\r\n+ idling\r\n", "a1", true},
		{"i0", "DONE\r\n", "i0 OK IDLE terminated\r\n", "", true}, // between commands after it
		{"", "a1 IDLE\r\n", "+ idling\r\n", "a1", true},           // and the IDLE that follows
		{"", "DONE\r\n", "", "", false},                           // DONE between commands: BAD, wake
		{"", "DONE\r\na1 IDLE\r\n", "", "", false},
		{"", "a1 NOOP\r\n", "", "", false},
		{"", "a1 IDLE", "", "", false},
		{"i0", "DONE", "", "", false},                 // partial line
		{"i0", "DONE\r\na1 IDLE", "", "", false},      // partial line
		{"i0", "DONE\r\na1 IDLE\r\nx", "", "", false}, // more after it
		{"i0", "DONE\r\na1 NOOP\r\n", "", "", false},  // another command
		{"i0", "DONE\r\na+ IDLE\r\n", "", "", false},  // bad tag
		{"i0", "DONE\r\na1 IDLE x\r\n", "", "", false},
		{"i0", "DONE \r\na1 IDLE\r\n", "", "", false}, // not DONE: BAD in an active session
		{"i0", "DONE\r\n\r\na1 IDLE\r\n", "", "", false},
		{"i0", "DONE\r\na1  IDLE\r\n", "", "", false},
		{"i0", "a1 IDLE\r\n", "", "", false}, // IDLE inside IDLE
	} {
		out, tag, ok := answerAsleep(tc.idleTag, []byte(tc.in))
		if string(out) != tc.out || tag != tc.tag || ok != tc.ok {
			t.Errorf("answerAsleep(%q, %q) = %q, %q, %v; want %q, %q, %v", tc.idleTag, tc.in, out, tag, ok, tc.out, tc.tag, tc.ok)
		}
	}
}
