package imapserver

import "testing"

func TestFormatSet(t *testing.T) {
	for _, tc := range []struct {
		in   []uint32
		want string
	}{
		{nil, ""},
		{[]uint32{1}, "1"},
		{[]uint32{1, 2, 3, 5, 7, 8}, "1:3,5,7:8"},
		{[]uint32{5, 1, 2}, "5,1:2"}, // order kept for COPYUID
	} {
		if got := formatSet(tc.in); got != tc.want {
			t.Errorf("formatSet(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRemoveUIDs(t *testing.T) {
	got := removeUIDs([]uint32{1, 2, 3, 5, 8}, []uint32{2, 5, 6})
	if len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 8 {
		t.Fatalf("removeUIDs = %v", got)
	}
}
