package notice

import (
	"strings"
	"testing"
)

func TestHintCodec(t *testing.T) {
	tests := []struct {
		h    Hint
		wire string
	}{
		{Hint{User: "alice", Mailbox: "INBOX"}, "1 alice INBOX\n"},
		{Hint{User: "bob@example.org", Mailbox: "Archive/2026", Folder: "new", Name: "1700000000.M1P2.mx,S=12"},
			"1 bob_40example_2eorg Archive_2f2026 new 1700000000_2eM1P2_2emx_2cS_3d12\n"},
		{Hint{User: "jörg", Mailbox: "Entwürfe", Folder: "cur", Name: "1.x:2,S"}, "1 j_c3_b6rg Entw_c3_bcrfe cur 1_2ex_3a2_2cS\n"},
	}
	for _, tc := range tests {
		b, err := tc.h.MarshalText()
		if err != nil || string(b) != tc.wire {
			t.Errorf("%+v: %q, %v; want %q", tc.h, b, err, tc.wire)
		}
		var got Hint
		if err := got.UnmarshalText([]byte(tc.wire)); err != nil || got != tc.h {
			t.Errorf("%q: %+v, %v", tc.wire, got, err)
		}
		// The newline is optional.
		if err := got.UnmarshalText([]byte(strings.TrimSuffix(tc.wire, "\n"))); err != nil || got != tc.h {
			t.Errorf("%q without newline: %+v, %v", tc.wire, got, err)
		}
	}
	for _, bad := range []string{
		"", "\n", "2 alice INBOX", "1 alice", "1 alice INBOX new", "1 alice INBOX tmp x",
		"1 alice INBOX new x y", "1  INBOX", "1 alice  ", "1 _ INBOX", "1 alice _",
		"1 al.ice INBOX", "1 alice IN BOX x", "1 alice INBOX new _", "1 alice INBOX\n\n",
		"1 alice INBOX\r\n", "1 " + strings.Repeat("u", 300) + " INBOX",
		"1 alice " + strings.Repeat("m", MaxHint),
	} {
		h := Hint{User: "kept"}
		if err := h.UnmarshalText([]byte(bad)); err == nil || h.User != "kept" {
			t.Errorf("%q: accepted as %+v", bad, h)
		}
	}
}

// FuzzHint checks that any datagram decodes within the bounds or fails,
// and that what decodes encodes back to the same line.
func FuzzHint(f *testing.F) {
	for _, s := range []string{"1 alice INBOX\n", "1 a_2eb Archive_2f2026 new 1_2ex\n", "1 alice INBOX cur x", "0 x y"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Hint
		if err := h.UnmarshalText(b); err != nil {
			return
		}
		if err := h.validate(); err != nil {
			t.Fatalf("decoded an invalid hint: %v", err)
		}
		out, err := h.MarshalText()
		if err != nil {
			t.Fatalf("re-encode %+v: %v", h, err)
		}
		if strings.TrimSuffix(string(out), "\n") != strings.TrimSuffix(string(b), "\n") {
			t.Fatalf("re-encoded %q from %q", out, b)
		}
	})
}
