package imaptest

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{`a`: `"a"`, `a"b`: `"a\"b"`, `a\b`: `"a\\b"`, ``: `""`} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestVerb: errors name a command, never its arguments (a password).
func TestVerb(t *testing.T) {
	cases := []string{ // line -> its verb
		"LOGIN alice secret -> LOGIN",
		"t1 LOGIN alice secret -> LOGIN",
		"a1 UID FETCH 1:* FLAGS -> UID FETCH",
		"UID STORE 1 +FLAGS (x) -> UID STORE",
		"DONE -> DONE",
		"h12 IDLE -> IDLE",
		" -> ",
	}
	for _, c := range cases {
		line, want, _ := strings.Cut(c, " -> ")
		if got := Verb(line); got != want {
			t.Errorf("Verb(%q) = %q, want %q", line, got, want)
		}
	}
}
