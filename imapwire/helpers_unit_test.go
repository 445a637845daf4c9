package imapwire

import (
	"bufio"
	"bytes"
	"slices"
	"testing"
	"time"
)

func TestMUTF7(t *testing.T) {
	for _, tc := range []struct{ utf8, mutf7 string }{
		{"INBOX", "INBOX"},
		{"", ""},
		{"a&b", "a&-b"},
		{"&", "&-"},
		{"Entwürfe", "Entw&APw-rfe"},
		{"日本語", "&ZeVnLIqe-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"😀 smile", "&2D3eAA- smile"},
		{"é&é", "&AOk-&-&AOk-"},
		{"Ünïcödé", "&ANw-n&AO8-c&APY-d&AOk-"},
	} {
		if got := EncodeMUTF7(tc.utf8); got != tc.mutf7 {
			t.Errorf("EncodeMUTF7(%q) = %q, want %q", tc.utf8, got, tc.mutf7)
		}
		if got, err := DecodeMUTF7(tc.mutf7); err != nil || got != tc.utf8 {
			t.Errorf("DecodeMUTF7(%q) = %q, %v; want %q", tc.mutf7, got, err, tc.utf8)
		}
	}
	for _, bad := range []string{
		"&", "&Jjo", "&AGE-", "&AOk-&AOk-", "&Jj!-", "caf\xc3\xa9", "a\tb", "&2D0-", "&3gA-", "&AOl-", "&AAA-", "&AH8-", "&AA-",
	} {
		if got, err := DecodeMUTF7(bad); err == nil {
			t.Errorf("DecodeMUTF7(%q) = %q, want an error", bad, got)
		}
	}
}

func FuzzMUTF7(f *testing.F) {
	f.Add("Entwürfe")
	f.Add("&Jjo-")
	f.Fuzz(func(t *testing.T, s string) {
		if dec, err := DecodeMUTF7(s); err == nil {
			if enc := EncodeMUTF7(dec); enc != s {
				t.Fatalf("%q decodes to %q, which encodes to %q", s, dec, enc)
			}
		}
	})
}

func TestSeqSet(t *testing.T) {
	s, err := ParseSeqSet("1:3,7,*:10,20:*")
	if err != nil {
		t.Fatal(err)
	}
	if s.String() != "1:3,7,*:10,20:*" || !s.Dynamic() {
		t.Errorf("String %q", s.String())
	}
	for _, tc := range []struct {
		n, max uint32
		want   bool
	}{{2, 50, true}, {4, 50, false}, {7, 50, true}, {15, 50, true}, {50, 50, true}, {51, 50, false}, {9, 9, true}, {8, 9, false}, {12, 9, true}} {
		if got := s.Contains(tc.n, tc.max); got != tc.want {
			t.Errorf("Contains(%d, %d) = %v", tc.n, tc.max, got)
		}
	}
	if got := FormatRanges(s.Normalize(50)); got != "1:3,7,10:50" {
		t.Errorf("Normalize = %s", got)
	}
	if got := s.Count(50); got != 3+1+41 {
		t.Errorf("Count = %d", got)
	}
	// "1:*" over a 32-bit UID space: iterating is lazy and stops early.
	all, _ := ParseSeqSet("1:*")
	var first []uint32
	for n := range all.All(4294967295) {
		first = append(first, n)
		if len(first) == 3 {
			break
		}
	}
	if !slices.Equal(first, []uint32{1, 2, 3}) || all.Count(4294967295) != 4294967295 {
		t.Errorf("All = %v", first)
	}
	if got := slices.Collect(s.All(12)); !slices.Equal(got, []uint32{1, 2, 3, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}) {
		t.Errorf("All = %v", got)
	}
	// "*" alone in an empty mailbox resolves to nothing.
	if star, _ := ParseSeqSet("*"); len(star.Normalize(0)) != 0 {
		t.Errorf("Normalize(0) of * = %v", star.Normalize(0))
	}
	if saved, _ := ParseSeqSet("$"); !saved.Saved || saved.String() != "$" {
		t.Errorf("$: %+v", saved)
	}
	for _, bad := range []string{"", "0", "1:", ":1", "a", "1,,2", "1,", ",1", "1:2:3", "4294967296", "$,1", "1$", "**"} {
		if _, err := ParseSeqSet(bad); err == nil {
			t.Errorf("ParseSeqSet(%q) accepted", bad)
		}
	}
}

// TestFormatUIDSet: the one UID-set encoder (COPYUID, APPENDUID, VANISHED,
// MODIFIED, ESEARCH ALL) folds runs, keeps the given order and does not
// run past the largest UID.
func TestFormatUIDSet(t *testing.T) {
	for _, tc := range []struct {
		in   []uint32
		want string
	}{
		{nil, ""},
		{[]uint32{5}, "5"},
		{[]uint32{1, 2, 3, 5, 7, 8}, "1:3,5,7:8"},
		{[]uint32{9, 3, 4}, "9,3:4"}, // order kept: COPYUID pairs by position (RFC 4315 3)
		{[]uint32{4294967294, 4294967295}, "4294967294:4294967295"},
		{[]uint32{4294967295, 0}, "4294967295,0"}, // no wrap-around run
	} {
		if got := FormatUIDSet(tc.in); got != tc.want {
			t.Errorf("FormatUIDSet(%v) = %q, want %q", tc.in, got, tc.want)
		}
		prefix := []byte("OK ")
		if got := string(AppendUIDSet(prefix, tc.in)); got != "OK "+tc.want {
			t.Errorf("AppendUIDSet(%q, %v) = %q", prefix, tc.in, got)
		}
	}
}

func TestDates(t *testing.T) {
	parse := func(in string) (time.Time, error) {
		d := NewDecoder(bufio.NewReader(bytes.NewReader(nil)), DecoderOptions{})
		d.line = []byte(in)
		return d.dateTime()
	}
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{`"07-Feb-1994 21:52:25 -0800"`, time.Date(1994, 2, 7, 21, 52, 25, 0, time.FixedZone("", -8*3600))},
		{`" 7-feb-1994 21:52:25 +0130"`, time.Date(1994, 2, 7, 21, 52, 25, 0, time.FixedZone("", 90*60))},
		{`"29-Feb-2024 00:00:00 +0000"`, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
	} {
		got, err := parse(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: %v %v", tc.in, got, err)
		}
		_, off := got.Zone()
		if _, woff := tc.want.Zone(); off != woff {
			t.Errorf("%s: zone %d", tc.in, off)
		}
	}
	for _, bad := range []string{`"29-Feb-2023 00:00:00 +0000"`, `"07-Feb-1994 21:52:25"`, `07-Feb-1994 21:52:25 +0000`, `"07-Feb-94 21:52:25 +0000"`, `"07-Feb-1994 24:00:00 +0000"`, `"07-Feb-1994 21:52:25 +0060"`, `"7-Feb-1994 1:52:25 +0000"`, `"07-Fev-1994 21:52:25 +0000"`, `"07-Feb-1994 21:52:25 *0000"`} {
		if got, err := parse(bad); err == nil {
			t.Errorf("%s accepted as %v", bad, got)
		}
	}
}

func TestWriterMailboxAndSets(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	w := NewWriter(bw)
	w.Mailbox("Entwürfe").SP().Mailbox("inbox").SP().Mailbox("a b").SP().Mailbox("").SP().UIDSet([]uint32{1, 2, 3, 9}).SP().Number(42).SP()
	w.UTF8 = true
	w.Mailbox("Entwürfe").SP().Date(time.Date(2024, 3, 5, 7, 8, 9, 0, time.FixedZone("", 3600)))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `Entw&APw-rfe INBOX "a b" "" 1:3,9 42 "Entwürfe" "05-Mar-2024 07:08:09 +0100"`
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}
	allocs := testing.AllocsPerRun(100, func() {
		w.Number(123456).UIDSet([]uint32{1, 2, 3})
		bw.Flush()
	})
	if allocs != 0 {
		t.Errorf("%v allocations writing numbers", allocs)
	}
}

// TestWriterStringForms checks when a string goes quoted and when as a
// literal: 8-bit text only as a literal before UTF8=ACCEPT, and after it
// quoted only when it is valid UTF-8 (RFC 6855 3).
func TestWriterStringForms(t *testing.T) {
	tests := []struct {
		in   string
		utf8 bool
		want string
	}{
		{"plain", false, `"plain"`},
		{"Grüße", false, "{7}\r\nGrüße"},
		{"Grüße", true, `"Grüße"`},
		{"bad \x82 byte", true, "{10}\r\nbad \x82 byte"},
		{"line\r\nbreak", true, "{11}\r\nline\r\nbreak"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		w := NewWriter(bw)
		w.UTF8 = tt.utf8
		w.String(tt.in)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tt.want {
			t.Errorf("String(%q) with utf8 %v = %q, want %q", tt.in, tt.utf8, buf.String(), tt.want)
		}
	}
}
