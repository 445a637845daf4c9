package imapmsg

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/text/cases"
)

// TestFoldMatchesCases checks the ASCII fast path and the rune carry
// between reads against cases.Fold on whole strings.
func TestFoldMatchesCases(t *testing.T) {
	inputs := []string{
		"Hello WORLD",
		"Straße ÆØÅ ΣΊΣΥΦΟΣ Kelvin K ﬁne",
		"mixed Ünïcödé and ASCII, ÉTÉ!",
		"\xff\xfe invalid \xc3 bytes",
		strings.Repeat("aÄ€𝔸", 1000),
	}
	for _, in := range inputs {
		want := cases.Fold().String(in)
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
