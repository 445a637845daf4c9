package imapview

import (
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// TestTellFlags: flag changes of kept messages and of a message flagged
// and then expunged are told once, in sequence order, without moving the
// view's MODSEQ; new messages and expunges wait for Apply.
func TestTellFlags(t *testing.T) {
	snap := mailstore.Snapshot{UIDValidity: 1, UIDNext: 4, HighestModSeq: 5,
		Messages: mailstore.ListOf([]mailstore.Message{{UID: 1, ModSeq: 3}, {UID: 2, ModSeq: 4}, {UID: 3, ModSeq: 5}})}
	v := New(snap, false, 0, 0)
	ch := mailstore.Changes{UIDValidity: 1, UIDNext: 5, HighestModSeq: 9,
		Changed:  []mailstore.Message{{UID: 3, ModSeq: 7, Flags: []string{`\Seen`}}, {UID: 4, ModSeq: 9}},
		Expunged: []uint32{1, 2}}
	asked := 0
	expunged := func() ([]mailstore.Message, error) {
		asked++
		// 1 was expunged as it was; 2 was flagged first.
		return []mailstore.Message{{UID: 1, ModSeq: 3}, {UID: 2, ModSeq: 8, Flags: []string{`\Deleted`}}}, nil
	}
	fs, err := v.TellFlags(ch, expunged)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].Seq != 2 || fs[0].Msg.ModSeq != 8 || fs[1].Seq != 3 || fs[1].Msg.ModSeq != 7 {
		t.Fatalf("told %+v, want messages 2 and 3", fs)
	}
	if asked != 1 || v.Len() != 3 || v.HighestModSeq != 5 || v.Messages.Flags(2)[0] != `\Seen` {
		t.Fatalf("asked the log %d times; view %d messages at %d, %+v", asked, v.Len(), v.HighestModSeq, v.Messages.Messages())
	}
	if snap.Messages.ModSeq(2) != 5 {
		t.Fatal("the shared list was changed in place")
	}
	if again, _ := v.TellFlags(ch, expunged); len(again) != 0 {
		t.Fatalf("told again: %+v", again)
	}
	up, err := v.Apply(ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Changed) != 0 || len(up.ExpungedSeqs) != 2 || up.Added != 1 {
		t.Fatalf("Apply after TellFlags: %+v", up)
	}
}
