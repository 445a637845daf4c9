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

func TestMatcherAcrossReads(t *testing.T) {
	hay := strings.Repeat("x", 100) + "needle" + strings.Repeat("y", 100)
	var mt textMatcher
	mt.reset([][]byte{[]byte("needle")})
	if !mt.scanReader(iotest.OneByteReader(strings.NewReader(hay))) || !mt.found[0] {
		t.Error("needle split across reads not found")
	}
	mt.reset([][]byte{[]byte("needles")})
	if mt.scanReader(iotest.HalfReader(strings.NewReader(hay))) || mt.found[0] {
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

// TestHeaderBlockContains checks the byte pre-test of HeaderBlockContains
// (lacksNeedleBytes) against the full comparison it lets SEARCH skip:
// for each field and needle, the answer is the one the decoded, folded
// value and the rendered addresses give, including where rendering adds
// what the raw field lacks (MISSING_DOMAIN, blanks, angle brackets,
// re-quoting) or joins what it separates (obsolete syntax, comments).
func TestHeaderBlockContains(t *testing.T) {
	tests := []struct {
		value, needle string
		want          bool
	}{
		{`"Person 17" <p17@example.org>`, "p17@example.org", true},
		{`"Person 42" <p42@example.org>`, "p17@example.org", false},
		{`"Person 17" <p17@example.org>`, "person 17 <p17", true}, // rendered: quotes gone, "<" added
		{`Person  17 <p17@example.org>`, "person 17 <", true},     // rendered: one blank
		{`<user (comment)@ (comment) example.org>`, "user@example.org", true},
		{`user @ example . org`, "user@example.org", true},
		{`undisclosed`, "missing_domain", true},    // a bare word: MISSING_DOMAIN
		{`@example.org`, "missing_mailbox@", true}, // no local part
		{`"a b"@example.org`, `"a b"@example.org`, true},
		{`"a\"b"@example.org`, `\"b`, true},
		{`=?UTF-8?Q?J=C3=B6rg?= <j@example.org>`, "jörg", true},
		{`=?UTF-8?Q?J=C3=B6rg?= <j@example.org>`, "jörn", false},
		{`Jörg <j@example.org>`, "jörg", true},
		{`Jorg <j@example.org>`, "jörg", false}, // non-ASCII needle, ASCII field
		{`Group: a@x.org, b@y.org;`, "b@y.org", true},
		{`Group: a@x.org, b@y.org;`, "group", true}, // the field's text itself
		{`p1@example.org,` + "\r\n\t" + `p7@example.org`, "p17", false},
		{"p1@example.org,\r\n\tP7@EXAMPLE.org", "p7@example", true},
		{`x@example.org`, "", true},
	}
	for _, tt := range tests {
		block := []byte("Subject: s\r\nFrom: " + tt.value + "\r\n")
		needle := FoldSearchString(tt.needle)
		if got := HeaderBlockContains(block, "FROM", needle); got != tt.want {
			t.Errorf("HeaderBlockContains(From: %s, %q) = %v, want %v", tt.value, tt.needle, got, tt.want)
		}
		// The reference: the comparison without the pre-test.
		value := []byte(tt.value)
		ref := strings.Contains(foldString(decodeHeader(unfold(value))), needle) || addressesContain(value, needle)
		if ref != tt.want {
			t.Errorf("reference for From: %s, %q = %v, want %v (test table wrong)", tt.value, tt.needle, ref, tt.want)
		}
		m := parseBytes(t, []byte(crlf("From: "+tt.value+"\n\nbody\n")))
		if got := m.HeaderContains("from", tt.needle); got != tt.want {
			t.Errorf("HeaderContains(From: %s, %q) = %v, want %v", tt.value, tt.needle, got, tt.want)
		}
	}
}
