package imapwire

import "testing"

func TestPartialRangeBounds(t *testing.T) {
	tests := []struct {
		r      PartialRange
		n      int
		lo, hi int
	}{
		{PartialRange{From: 1, To: 3}, 10, 0, 3},
		{PartialRange{From: 3, To: 1}, 10, 0, 3},
		{PartialRange{From: 9, To: 20}, 10, 8, 10},
		{PartialRange{From: 11, To: 20}, 10, 0, 0},
		{PartialRange{From: 1, To: 2, Last: true}, 10, 8, 10},
		{PartialRange{From: 3, To: 1, Last: true}, 10, 7, 10},
		{PartialRange{From: 5, To: 20, Last: true}, 10, 0, 6},
		{PartialRange{From: 11, To: 20, Last: true}, 10, 0, 0},
		{PartialRange{From: 1, To: 1}, 0, 0, 0},
		{PartialRange{From: 1, To: 4294967295, Last: true}, 3, 0, 3},
	}
	for _, tc := range tests {
		lo, hi := tc.r.Bounds(tc.n)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("%s of %d: [%d, %d), want [%d, %d)", tc.r, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestParsePartial(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
		want string
	}{
		{"a SEARCH RETURN (PARTIAL 1:100) ALL", true, "1:100"},
		{"a SEARCH RETURN (PARTIAL -1:-100 COUNT) ALL", true, "-1:-100"},
		{"a SEARCH RETURN (PARTIAL -1:100) ALL", false, ""},
		{"a SEARCH RETURN (PARTIAL 0:1) ALL", false, ""},
		{"a SEARCH RETURN (PARTIAL 1:*) ALL", false, ""},
		{"a SEARCH RETURN (PARTIAL 1:4294967296) ALL", false, ""},
		{"a UID FETCH 1:* FLAGS (PARTIAL -1:-30)", true, "-1:-30"},
		{"a UID FETCH 1:* FLAGS (PARTIAL 1:2 PARTIAL 3:4)", false, ""},
	} {
		cmd, err := newTestDecoder(tc.line+"\r\n", DecoderOptions{}, nil).ReadCommand()
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok %v", tc.line, err, tc.ok)
			continue
		}
		if err != nil {
			continue
		}
		var got *PartialRange
		switch a := cmd.Args.(type) {
		case *SearchArgs:
			got = a.Partial
		case *FetchArgs:
			got = a.PartialRange
		}
		if got == nil || got.String() != tc.want {
			t.Errorf("%q: range %v, want %s", tc.line, got, tc.want)
		}
	}
}
