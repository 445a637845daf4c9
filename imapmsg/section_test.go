package imapmsg

import (
	"io"
	"testing"

	"github.com/dormouse/dormouse/imapwire"
)

func sectionString(t *testing.T, m *Message, s *imapwire.Section) string {
	t.Helper()
	r, err := m.Section(s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != r.Size() {
		t.Errorf("size %d, read %d", r.Size(), len(b))
	}
	return string(b)
}

func TestSection(t *testing.T) {
	nestedInner := "From: Original Sender <orig@example.org>\r\nSubject: original\r\nDate: Wed, 2 Jun 2021 08:00:00 +0000\r\nMessage-ID: <orig@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
	tests := []struct {
		file string
		sec  imapwire.Section
		want string
	}{
		{"plain.eml", imapwire.Section{Specifier: "TEXT"}, "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"},
		{"plain.eml", imapwire.Section{Part: []int{1}}, "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"},
		{"plain.eml", imapwire.Section{Part: []int{2}}, ""},
		{"plain.eml", imapwire.Section{Part: []int{1, 1}}, ""},
		{"plain.eml", imapwire.Section{Specifier: "HEADER.FIELDS", Fields: []string{"subject", "FROM", "X-None"}},
			"From: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\n\r\n"},
		{"plain.eml", imapwire.Section{Specifier: "HEADER.FIELDS.NOT", Fields: []string{"Return-Path", "Date", "From", "To", "Message-Id", "MIME-Version", "Content-Type"}},
			"Subject: afternoon meeting\r\n\r\n"},
		{"alternative.eml", imapwire.Section{Part: []int{1}}, "Let's have lunch.\r\nSee you."},
		{"alternative.eml", imapwire.Section{Part: []int{2}}, "<p>Let's have <b>lunch</b>.</p>"},
		{"alternative.eml", imapwire.Section{Part: []int{1}, Specifier: "MIME"},
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"},
		{"alternative.eml", imapwire.Section{Part: []int{3}}, ""},
		{"alternative.eml", imapwire.Section{Part: []int{1}, Specifier: "HEADER"}, ""}, // not a message/rfc822
		{"nested.eml", imapwire.Section{Part: []int{2}, Specifier: "HEADER"}, nestedInner},
		{"nested.eml", imapwire.Section{Part: []int{2}, Specifier: "HEADER.FIELDS", Fields: []string{"Subject"}}, "Subject: original\r\n\r\n"},
		{"nested.eml", imapwire.Section{Part: []int{2, 1}}, "Inner plain."},
		{"nested.eml", imapwire.Section{Part: []int{2, 2}, Specifier: "MIME"}, "Content-Type: text/html; charset=us-ascii\r\n\r\n"},
		{"nested.eml", imapwire.Section{Part: []int{2}, Specifier: "MIME"}, "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"},
		{"nested.eml", imapwire.Section{Part: []int{2}, Specifier: "TEXT"},
			"--inner\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nInner plain.\r\n--inner\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<p>Inner html.</p>\r\n--inner--"},
		{"bare-lf.eml", imapwire.Section{Part: []int{1}}, "one\ntwo"},
		{"bare-lf.eml", imapwire.Section{Specifier: "HEADER.FIELDS", Fields: []string{"Subject"}}, "Subject: bare lf\n\r\n"},
		{"encoded.eml", imapwire.Section{Specifier: "HEADER.FIELDS", Fields: []string{"subject"}},
			"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\r\n =?ISO-8859-1?Q?_et_caf=E9?=\r\n\r\n"},
	}
	for _, tt := range tests {
		m := parseBytes(t, readTestdata(t, tt.file))
		if got := sectionString(t, m, &tt.sec); got != tt.want {
			t.Errorf("%s %+v:\n got %q\nwant %q", tt.file, tt.sec, got, tt.want)
		}
	}
}

func TestSectionWhole(t *testing.T) {
	for _, tt := range structureTests {
		b := readTestdata(t, tt.file)
		m := parseBytes(t, b)
		whole := sectionString(t, m, &imapwire.Section{})
		header := sectionString(t, m, &imapwire.Section{Specifier: "HEADER"})
		text := sectionString(t, m, &imapwire.Section{Specifier: "TEXT"})
		if whole != string(b) || header+text != whole {
			t.Errorf("%s: BODY[] or HEADER+TEXT differ from the message", tt.file)
		}
		// Top-level sections come from ParseHeader alone, without parsing
		// the structure.
		h, err := ParseHeader(bytesReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		fields := &imapwire.Section{Specifier: "HEADER.FIELDS", Fields: []string{"From", "Subject"}}
		if sectionString(t, h, &imapwire.Section{Specifier: "HEADER"}) != header ||
			sectionString(t, h, &imapwire.Section{Specifier: "TEXT"}) != text ||
			sectionString(t, h, fields) != sectionString(t, m, fields) {
			t.Errorf("%s: ParseHeader sections differ from Parse", tt.file)
		}
		if h.full {
			t.Errorf("%s: top-level sections parsed the structure", tt.file)
		}
	}
}

func TestHasPart(t *testing.T) {
	m := parseBytes(t, readTestdata(t, "nested.eml"))
	for _, tt := range []struct {
		path []int
		want bool
	}{{nil, true}, {[]int{1}, true}, {[]int{2, 2}, true}, {[]int{2, 3}, false}, {[]int{3}, false}, {[]int{1, 1}, false}, {[]int{0}, false}} {
		if got, err := m.HasPart(tt.path); err != nil || got != tt.want {
			t.Errorf("HasPart(%v) = %v, %v", tt.path, got, err)
		}
	}
}
