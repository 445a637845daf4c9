package maildir

import (
	"context"
	"reflect"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

func TestFlagInfo(t *testing.T) {
	tests := []struct {
		info string
		sys  uint8
		out  string // withSys(info, sys)
	}{
		{"", flagSeen | flagAnswered, "RS"},
		{"S", 0, ""},
		{"PS", flagFlagged, "FP"},   // P (passed) is kept
		{"Sab", flagDraft, "Dab"},   // Dovecot keyword letters are kept
		{"DFRST", flagDeleted, "T"}, // all system letters replaced
	}
	for _, tc := range tests {
		if got := withSys(tc.info, tc.sys); got != tc.out {
			t.Errorf("withSys(%q, %b) = %q, want %q", tc.info, tc.sys, got, tc.out)
		}
		if got := sysFromInfo(tc.out); got != tc.sys {
			t.Errorf("sysFromInfo(%q) = %b, want %b", tc.out, got, tc.sys)
		}
	}
	if b, i := splitInfo("123.abc,S=5:2,FS"); b != "123.abc,S=5" || i != "FS" {
		t.Errorf("splitInfo: %q %q", b, i)
	}
}

func TestStoreFlagOps(t *testing.T) {
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "tia")
	m := testMailbox(t, u, "INBOX")
	ctx := context.Background()
	uid := mustAppend(t, m, msg("f"), `\Seen`, "Work")
	tests := []struct {
		op      mailstore.StoreOp
		flags   []string
		want    []string
		changed bool
	}{
		{mailstore.FlagsAdd, []string{`\flagged`, "work"}, []string{"Work", `\Flagged`, `\Seen`}, true}, // case-insensitive
		{mailstore.FlagsAdd, []string{`\Seen`}, []string{"Work", `\Flagged`, `\Seen`}, false},           // no-op: no new MODSEQ
		{mailstore.FlagsRemove, []string{"WORK", `\Seen`}, []string{`\Flagged`}, true},
		{mailstore.FlagsReplace, []string{`\Answered`, `\Recent`, "$Label1"}, []string{"$Label1", `\Answered`}, true},
		{mailstore.FlagsReplace, nil, []string{}, true},
	}
	last := uint64(0)
	for i, tc := range tests {
		changed, _, err := m.StoreFlags(ctx, []uint32{uid}, tc.op, tc.flags, 0)
		if err != nil {
			t.Fatal(err)
		}
		if (len(changed) == 1) != tc.changed {
			t.Fatalf("%d: changed %v", i, changed)
		}
		v, _ := m.Snapshot(ctx)
		got := v.Messages.At(0)
		if !reflect.DeepEqual(got.Flags, tc.want) {
			t.Fatalf("%d: flags %q, want %q", i, got.Flags, tc.want)
		}
		if tc.changed && got.ModSeq <= last {
			t.Fatalf("%d: MODSEQ %d not above %d", i, got.ModSeq, last)
		}
		last = got.ModSeq
	}
}
