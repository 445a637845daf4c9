package imapserver

import "testing"

func TestRemoveUIDs(t *testing.T) {
	got := removeUIDs([]uint32{1, 2, 3, 5, 8}, []uint32{2, 5, 6})
	if len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 8 {
		t.Fatalf("removeUIDs = %v", got)
	}
}
