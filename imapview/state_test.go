package imapview

import (
	"testing"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// TestExportExistsUnheard: the mark that the next IDLE repeats EXISTS
// survives hibernation, and a view without it exports nothing for it.
func TestExportExistsUnheard(t *testing.T) {
	for _, unheard := range []bool{false, true} {
		v := New(mailstore.Snapshot{UIDValidity: 7, UIDNext: 3, HighestModSeq: 4,
			Messages: []mailstore.Message{{UID: 1}, {UID: 2}}}, false, 0, 0)
		v.ExistsUnheard = unheard
		var st hibernate.State
		st.Mailbox, st.User = "INBOX", "u"
		v.Export(&st)
		b, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back hibernate.State
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		got, err := FromState(&back)
		if err != nil {
			t.Fatal(err)
		}
		if got.ExistsUnheard != unheard {
			t.Errorf("ExistsUnheard %v after a round trip, want %v", got.ExistsUnheard, unheard)
		}
		if !unheard && len(st.ExtState) != 0 {
			t.Errorf("a view without the mark exports %v", st.ExtState)
		}
	}
}
