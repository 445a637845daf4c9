package imapmsg

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestBaseSubject checks base subject extraction (RFC 5256 2.1) step by
// step, and the reply-or-forward mark THREAD=REFERENCES uses.
func TestBaseSubject(t *testing.T) {
	tests := []struct {
		in, want string
		reply    bool
	}{
		{"", "", false},
		{"Hello", "Hello", false},
		{"  Hello   world\t ", "Hello world", false},      // (1) spaces collapsed, (2)/(3) trimmed
		{"Hello\r\n world", "Hello world", false},         // (1) continuation
		{"Re: Hello", "Hello", true},                      // (3) subj-refwd
		{"RE: re: Fwd: FW: Hello", "Hello", true},         // (3) repeated
		{"Re : Hello", "Hello", true},                     // *WSP before ":"
		{"Re[2]: Hello", "Hello", true},                   // subj-blob inside subj-refwd
		{"Re [2] : Hello", "Hello", true},                 // blob followed by WSP
		{"[list] Re: Hello", "Hello", true},               // *subj-blob subj-refwd
		{"[list] Hello", "Hello", false},                  // (4) blob removed
		{"[list]", "[list]", false},                       // (4) not when nothing would be left
		{"[list] [other] Hello", "Hello", false},          // (4) repeated
		{"Hello (fwd)", "Hello", true},                    // (2) subj-trailer
		{"Hello (FWD) (fwd)  ", "Hello", true},            // (2) repeated
		{"[Fwd: Re: Hello]", "Hello", true},               // (5), then (3)
		{"[fwd: [fwd: Hello (fwd)]]", "Hello", true},      // (5) twice, back to (2)
		{"[fwd: Hello", "[fwd: Hello", false},             // no trailer: not (5)
		{"Rebate", "Rebate", false},                       // "re" without ":"
		{"Fwd Hello", "Fwd Hello", false},                 // no ":"
		{"Re:", "", true},                                 // nothing left
		{"[a]Re:[b]Hello", "Hello", true},                 // blobs around
		{"Re: [list] été", "été", true},                   // non-ASCII kept as is
		{"Réunion: plans", "Réunion: plans", false},       // not "re" + ":"
		{"[ab[c] Hello", "[ab[c] Hello", false},           // "[" inside a blob: no blob
		{"Re: Re: [fwd: Re: Topic] (fwd)", "Topic", true}, // everything at once
		{"fw: re:re:  [x]  topic  ", "topic", true},       // mixed, spaces
		{"Subject with [brackets] inside", "Subject with [brackets] inside", false},
	}
	for _, tt := range tests {
		got, reply := BaseSubject(tt.in)
		if got != tt.want || reply != tt.reply {
			t.Errorf("BaseSubject(%q) = %q, %v; want %q, %v", tt.in, got, reply, tt.want, tt.reply)
		}
	}
}

// FuzzBaseSubject checks properties that hold for any subject: the base
// subject is a base subject already (extraction is idempotent and marks
// nothing), it is no longer than the collapsed input, and valid UTF-8
// stays valid.
func FuzzBaseSubject(f *testing.F) {
	for _, s := range []string{"Re: [fwd: Hello (fwd)]", "[a][b] c", "Fwd[x]: y", "[fwd: ]", "  \t", "été"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		base, _ := BaseSubject(s)
		again, reply := BaseSubject(base)
		if again != base || reply {
			t.Errorf("BaseSubject(%q) = %q, but BaseSubject of that = %q, %v", s, base, again, reply)
		}
		if len(base) > len(s) {
			t.Errorf("BaseSubject(%q) = %q is longer", s, base)
		}
		if utf8.ValidString(s) && !utf8.ValidString(base) {
			t.Errorf("BaseSubject(%q) = %q is not valid UTF-8", s, base)
		}
		if strings.HasPrefix(base, " ") || strings.HasSuffix(base, " ") {
			t.Errorf("BaseSubject(%q) = %q keeps blanks at an end", s, base)
		}
	})
}

// TestCasemap checks the i;unicode-casemap canonical form (RFC 5051):
// case and compatibility forms compare equal, accents decompose after
// their base letter, and the order is that of the canonical octets.
func TestCasemap(t *testing.T) {
	equal := [][2]string{
		{"hello", "HELLO"},
		{"été", "ÉTÉ"},
		{"e\u0301te\u0301", "ÉTÉ"},   // decomposed and composed
		{"ǆ", "ǅ"},                   // titlecase digraph
		{"ＡＢＣ", "abc"},               // fullwidth: compatibility decomposition
		{"Straße", "STRAßE"},         // ß has no simple titlecase
		{"\xff\xfeab", "\xff\xfeAB"}, // invalid UTF-8 kept as octets
	}
	for _, p := range equal {
		if a, b := Casemap(p[0]), Casemap(p[1]); a != b {
			t.Errorf("Casemap(%q) = %q, Casemap(%q) = %q; want equal", p[0], a, p[1], b)
		}
	}
	less := [][2]string{
		{"", "a"},
		{"Budget", "été"},
		{"été", "Fig"}, // E + accent before F, where "é" as one code point is after
		{"a", "B"},
	}
	for _, p := range less {
		if a, b := Casemap(p[0]), Casemap(p[1]); a >= b {
			t.Errorf("Casemap(%q) = %q not before Casemap(%q) = %q", p[0], a, p[1], b)
		}
	}
	if got := Casemap("ABC-123"); got != "ABC-123" {
		t.Errorf("Casemap of upper-case ASCII = %q", got)
	}
}
