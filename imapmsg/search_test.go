package imapmsg

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestHeaderContains(t *testing.T) {
	tests := []struct {
		file, field, s string
		want           bool
	}{
		{"encoded.eml", "Subject", "GRÜSSE aus münchen", true}, // B and Q words, ß folds to ss
		{"encoded.eml", "subject", "et café", true},            // ISO-8859-1 word
		{"encoded.eml", "Subject", "=?UTF-8?", false},          // raw text is not searched
		{"encoded.eml", "From", "andré müller", true},
		{"encoded.eml", "from", "andre@example.de", true},
		{"encoded.eml", "To", "françois", true},
		{"encoded.eml", "To", "müller", false},
		{"encoded.eml", "", "MÜNCHEN", true},
		{"plain.eml", "subject", "Afternoon", true},
		{"plain.eml", "subject", "noon meeting", true},
		{"plain.eml", "subject", "evening", false},
		{"plain.eml", "", "blurdybloop", true},
		{"plain.eml", "Cc", "", false}, // absent field
		{"missing.eml", "X-Mailer", "", true},
		{"groups.eml", "Cc", "ann a.", true},
		{"nested.eml", "Subject", "Fwd", true},
		{"nested.eml", "From", "orig@example.org", false}, // the inner message's header is not the header
		{"mixed.eml", "", "data.bin", false},              // part headers are not the header
	}
	for _, tt := range tests {
		m := parseBytes(t, readTestdata(t, tt.file))
		if got := m.HeaderContains(tt.field, tt.s); got != tt.want {
			t.Errorf("%s HeaderContains(%q, %q) = %v", tt.file, tt.field, tt.s, got)
		}
		h, err := ParseHeader(bytes.NewReader(readTestdata(t, tt.file)), int64(len(readTestdata(t, tt.file))))
		if err != nil {
			t.Fatal(err)
		}
		if got := h.HeaderContains(tt.field, tt.s); got != tt.want {
			t.Errorf("%s ParseHeader HeaderContains(%q, %q) = %v", tt.file, tt.field, tt.s, got)
		}
	}
}

func TestBodyContains(t *testing.T) {
	tests := []struct {
		file, s    string
		body, text bool
	}{
		{"mixed.eml", "CAFÉ COMPRIS", true, true},  // quoted-printable, ISO-8859-1
		{"mixed.eml", "très longue", true, true},   // across a soft line break
		{"mixed.eml", "Content-Type", false, true}, // headers are not body (TEXT has the top one)
		{"mixed.eml", "data.bin", false, false},    // attachment headers; not text
		{"mixed.eml", "report attached", false, true},
		{"encoded.eml", "bientôt l'été", true, true}, // 8bit ISO-8859-1
		{"alternative.eml", "LUNCH.", true, true},
		{"alternative.eml", "<b>lunch</b>", true, true}, // html is searched as text
		{"alternative.eml", "dinner", false, false},
		{"nested.eml", "inner html", true, true}, // inside message/rfc822
		{"nested.eml", "orig@example.org", false, false},
		{"plain.eml", "afternoon", false, true},
		{"plain.eml", "", true, true},
		{"malformed.eml", "inner with no end", true, true},
		{"bare-lf.eml", "one\ntwo", true, true},
	}
	for _, tt := range tests {
		m := parseBytes(t, readTestdata(t, tt.file))
		if got := m.BodyContains(tt.s); got != tt.body {
			t.Errorf("%s BodyContains(%q) = %v", tt.file, tt.s, got)
		}
		if got := m.TextContains(tt.s); got != tt.text {
			t.Errorf("%s TextContains(%q) = %v", tt.file, tt.s, got)
		}
	}
}

func TestStreamContainsAcrossReads(t *testing.T) {
	hay := strings.Repeat("x", 100) + "needle" + strings.Repeat("y", 100)
	buf := make([]byte, 7+8)
	found := make([]bool, 1)
	if !streamContainsAll(iotest.OneByteReader(strings.NewReader(hay)), [][]byte{[]byte("needle")}, found, buf) || !found[0] {
		t.Error("needle split across reads not found")
	}
	found[0] = false
	if streamContainsAll(iotest.HalfReader(strings.NewReader(hay)), [][]byte{[]byte("needles")}, found, buf) || found[0] {
		t.Error("found a needle that is not there")
	}
}

// TestBodyContainsAll searches several strings in one pass, each answer
// the same as BodyContains alone, across reads and parts.
func TestBodyContainsAll(t *testing.T) {
	body := strings.Repeat("filler line of text\r\n", 5000) + "the Zebra is here\r\n"
	m := parseBytes(t, []byte("Content-Type: text/plain\r\n\r\n"+body))
	words := []string{"zebra", "absent", "", "FILLER LINE", "zebra is here", "absent"}
	got := m.BodyContainsAll(words)
	for i, w := range words {
		if want := m.BodyContains(w); got[i] != want {
			t.Errorf("BodyContainsAll: %q = %v, BodyContains says %v", w, got[i], want)
		}
	}
	if !got[0] || got[1] || !got[2] || !got[3] || !got[4] || got[5] {
		t.Errorf("BodyContainsAll(%q) = %v", words, got)
	}
}

func TestDate(t *testing.T) {
	want := time.Date(1994, 2, 7, 21, 52, 25, 0, time.FixedZone("", -8*3600))
	tests := []struct {
		value string
		want  time.Time
	}{
		{"Mon, 7 Feb 1994 21:52:25 -0800 (PST)", want},
		{"7 Feb 1994 21:52:25 -0800", want},
		{"Mon,  7 Feb 1994   21:52:25 -0800", want},
		{"Tue, 7 Feb 1994 21:52:25 -0800", want}, // wrong day name
		{"Mon 7 Feb 1994 21:52:25 -0800", want},  // no comma
		{"1994-02-07 21:52:25 -0800", want},
		{"not a date", time.Time{}},
	}
	for _, tt := range tests {
		m := parseBytes(t, []byte("Date: "+tt.value+"\r\n\r\n"))
		if got := m.Date(); !got.Equal(tt.want) {
			t.Errorf("Date(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
	if got := parseBytes(t, readTestdata(t, "missing.eml")).Date(); !got.IsZero() {
		t.Errorf("absent Date: %v", got)
	}
}
