package imapmsg

import (
	"bytes"
	"os"
	"testing"
)

// TestEnvelopeHeader checks that the kept block answers ENVELOPE, Date
// and the envelope-field searches as the whole message does, for every
// testdata message and some odd headers.
func TestEnvelopeHeader(t *testing.T) {
	msgs := map[string][]byte{
		"folded and repeated": []byte(crlf("Subject: first\n  folded part\nX-Other: no\nTo: a@b.c\nto: second@d.e\n" +
			"Date: Thu, 15 Feb 2007 01:02:03 +0200\n\nbody Subject: not a header\n")),
		"no body":         []byte(crlf("From: x@y.z\nSubject: only a header")),
		"no fields":       []byte(crlf("X-Mailer: m\n\nbody\n")),
		"empty":           {},
		"name with blank": []byte(crlf("Subject : spaced\nMessage-ID:<i@d>\n\nb\n")),
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		msgs[e.Name()] = readTestdata(t, e.Name())
	}
	probes := []string{"", "a", "example", "subject", "fwd", "münchen", "müller", "user", "@", "<", "2007",
		"only a header", "folded part", "second", "spaced", "body", "zzz-absent"}
	for name, raw := range msgs {
		t.Run(name, func(t *testing.T) {
			whole, err := ParseHeader(bytes.NewReader(raw), int64(len(raw)))
			if err != nil {
				t.Fatal(err)
			}
			block, err := whole.EnvelopeHeader()
			if err != nil {
				t.Fatal(err)
			}
			kept, err := ParseHeader(bytes.NewReader(block), int64(len(block)))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := render(kept.WriteEnvelope), render(whole.WriteEnvelope); got != want {
				t.Errorf("ENVELOPE from block\n got %s\nwant %s\nblock %q", got, want, block)
			}
			if got, want := kept.Date(), whole.Date(); !got.Equal(want) {
				t.Errorf("Date from block = %v, want %v", got, want)
			}
			for _, field := range append(envNames[:], "subject", "FROM") {
				for _, p := range probes {
					if got, want := kept.HeaderContains(field, p), whole.HeaderContains(field, p); got != want {
						t.Errorf("HeaderContains(%q, %q) from block = %v, want %v", field, p, got, want)
					}
				}
			}
			eachField(block, func(name, _, _ []byte) bool {
				if !IsEnvelopeField(string(name)) {
					t.Errorf("block keeps %s, which ENVELOPE does not report", name)
				}
				return true
			})
		})
	}
}

func TestIsEnvelopeField(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{{"subject", true}, {"MESSAGE-ID", true}, {"Reply-To", true}, {"Received", false}, {"", false}, {"Subjec", false}} {
		if got := IsEnvelopeField(tt.name); got != tt.want {
			t.Errorf("IsEnvelopeField(%q) = %v", tt.name, got)
		}
	}
}

// countingReaderAt counts the reads made of a message.
type countingReaderAt struct {
	r     *bytes.Reader
	reads int
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	return c.r.ReadAt(p, off)
}

// TestParseHeaderKeepsHeader: after ParseHeader, EnvelopeHeader and the
// header search keys use the header it read instead of reading the
// message again (a Maildir file's second pread in a first SORT), with the
// same answers as from a fully parsed message; a message that is all
// header works the same way.
func TestParseHeaderKeepsHeader(t *testing.T) {
	for _, raw := range []string{
		"From: a@example.org\r\nSubject: kept\r\nX-Other: x\r\nTo: b@example.org\r\n\r\nbody text\r\n",
		"Subject: no body\r\nFrom: c@example.org\r\n",
	} {
		src := &countingReaderAt{r: bytes.NewReader([]byte(raw))}
		m, err := ParseHeader(src, int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		full := parseBytes(t, []byte(raw))
		reads := src.reads
		got, err := m.EnvelopeHeader()
		if err != nil {
			t.Fatal(err)
		}
		want, err := full.EnvelopeHeader()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("EnvelopeHeader %q, from Parse %q", got, want)
		}
		if m.HeaderContains("subject", "KEPT") != full.HeaderContains("subject", "KEPT") ||
			m.HeaderContains("", "x-other") != full.HeaderContains("", "x-other") {
			t.Errorf("%q: HeaderContains differs from Parse's", raw)
		}
		if src.reads != reads {
			t.Errorf("%q: %d more reads after ParseHeader", raw, src.reads-reads)
		}
	}
}
