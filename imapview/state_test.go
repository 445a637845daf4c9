package imapview

import (
	"errors"
	"testing"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// TestExportExistsUnheard: the mark that the next IDLE repeats EXISTS
// survives hibernation, and a view without it exports nothing for it.
func TestExportExistsUnheard(t *testing.T) {
	for _, unheard := range []bool{false, true} {
		v := New(mailstore.Snapshot{UIDValidity: 7, UIDNext: 3, HighestModSeq: 4,
			Messages: mailstore.ListOf([]mailstore.Message{{UID: 1}, {UID: 2}})}, false, 0, 0)
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

// TestRestoreRefusesForeignState: a view restored from a blob is checked
// against the mailbox it names: another UIDVALIDITY, or UIDs the mailbox
// never gave out (a hostile blob's range of four billion UIDs, which
// Restore would walk and hold one record each), are refused; the view of
// a mailbox that only grew since is restored.
func TestRestoreRefusesForeignState(t *testing.T) {
	snap := mailstore.Snapshot{UIDValidity: 7, UIDNext: 5, HighestModSeq: 9,
		Messages: mailstore.ListOf([]mailstore.Message{{UID: 1}, {UID: 2}, {UID: 4}})}
	tests := []struct {
		name string
		st   hibernate.State
		want error
	}{
		{"grown", hibernate.State{UIDValidity: 7, UIDNext: 3, HighestModSeq: 4, Messages: 2,
			UIDs: []hibernate.UIDRange{{First: 1, Last: 2}}}, nil},
		{"recreated", hibernate.State{UIDValidity: 8, UIDNext: 3, Messages: 2,
			UIDs: []hibernate.UIDRange{{First: 1, Last: 2}}}, mailstore.ErrUIDValidity},
		{"from the future", hibernate.State{UIDValidity: 7, UIDNext: 0xedededee, Messages: 0xedededed,
			UIDs: []hibernate.UIDRange{{First: 1, Last: 0xedededed}}}, ErrForeignState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.st.User, tt.st.Mailbox = "u", "INBOX"
			if err := tt.st.Validate(); err != nil {
				t.Fatal(err)
			}
			v, err := FromState(&tt.st)
			if err != nil {
				t.Fatal(err)
			}
			err = v.Restore(snap, func() ([]mailstore.Message, error) { return nil, nil })
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Restore: %v, want %v", err, tt.want)
			}
			if err == nil && v.Messages.Len() != 2 {
				t.Errorf("restored %d messages, want 2", v.Messages.Len())
			}
		})
	}
}
