package main

import "testing"

func TestLiteralSize(t *testing.T) {
	tests := []struct {
		line string
		n    int64
		ok   bool
	}{
		{"* 1 FETCH (BODY[] {123}", 123, true},
		{"a1 APPEND INBOX {5+}", 5, true},
		{"* 1 FETCH (FLAGS (\\Seen))", 0, false},
		{"* OK {x}", 0, false},
		{"}", 0, false},
		{"* 1 FETCH (BODY[] {0}", 0, true},
	}
	for _, tt := range tests {
		n, ok := literalSize(tt.line)
		if n != tt.n || ok != tt.ok {
			t.Errorf("literalSize(%q) = %d, %v; want %d, %v", tt.line, n, ok, tt.n, tt.ok)
		}
	}
}

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

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{`a`: `"a"`, `a"b`: `"a\"b"`, `a\b`: `"a\\b"`} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}
