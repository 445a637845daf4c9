package imapmsg

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestFoldMatchesWhole checks the rune carry between reads against the
// mapping of whole strings.
func TestFoldMatchesWhole(t *testing.T) {
	inputs := []string{
		"Hello WORLD",
		"Straße ÆØÅ ΣΊΣΥΦΟΣ Kelvin K ﬁne",
		"mixed Ünïcödé and ASCII, ÉTÉ!",
		"\xff\xfe invalid \xc3 bytes",
		strings.Repeat("aÄ€𝔸", 1000),
	}
	for _, in := range inputs {
		want := foldString(in)
		for _, one := range []bool{false, true} {
			var r io.Reader = strings.NewReader(in)
			if one {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(newFoldReader(r, newFolder(), make([]byte, 64)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Errorf("fold(%q) = %q, want %q", in, got, want)
			}
		}
	}
}

// TestFoldEquivalence checks that strings equal under i;unicode-casemap
// (RFC 5051) map alike for SEARCH (RFC 5255 4.4, I18NLEVEL=1), that full
// case folding's equivalences stay, and that others do not.
func TestFoldEquivalence(t *testing.T) {
	equal := [][2]string{
		{"été", "ÉTÉ"},
		{"e\u0301te\u0301", "ÉTÉ"}, // decomposed, composed
		{"ＡＢＣ", "abc"},             // fullwidth compatibility forms
		{"ﬁne", "FINE"},            // ligature
		{"ǅ", "ǆ"},                 // titlecase digraph
		{"\u210C", "h"},            // black-letter capital H decomposes to H
		{"Straße", "STRASSE"},      // full case folding
		{"ΣΊΣΥΦΟΣ", "σίσυφος"},
	}
	for _, p := range equal {
		if a, b := foldString(p[0]), foldString(p[1]); a != b {
			t.Errorf("fold(%q) = %q, fold(%q) = %q; want equal", p[0], a, p[1], b)
		}
	}
	for _, p := range [][2]string{{"ete", "été"}, {"a", "b"}, {"ss", "s"}} {
		if foldString(p[0]) == foldString(p[1]) {
			t.Errorf("fold(%q) = fold(%q), want different", p[0], p[1])
		}
	}
}
