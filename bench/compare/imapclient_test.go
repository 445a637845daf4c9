package main

import "testing"

func TestUntaggedCounts(t *testing.T) {
	tests := []struct {
		lines []string
		want  int
	}{
		{[]string{"* 10 EXISTS"}, 10},
		{[]string{"* 10 EXISTS", "* 3 EXPUNGE", "* 3 EXPUNGE"}, 8},
		{[]string{"* 10 EXISTS", "* 0 RECENT", "* OK [UIDNEXT 5] x", "* 4 FETCH (FLAGS ())"}, 10},
		{[]string{"* 7 exists"}, 7},
	}
	for _, tt := range tests {
		c := &imapClient{}
		for _, l := range tt.lines {
			c.untagged(l)
		}
		if c.exists != tt.want {
			t.Errorf("%q: exists %d, want %d", tt.lines, c.exists, tt.want)
		}
	}
}
