package imapmsg

import (
	"testing"

	"github.com/dormouse/dormouse/imapwire"
)

// The expectations below were written from the RFC 9051 grammar and
// checked by hand against the test messages: sizes are octets of the body
// as stored, without the CRLF that precedes a boundary (RFC 2046 5.1.1);
// lines count the LFs in those octets; type, subtype and parameters are
// reported as written, with Dovecot's defaults ("text" "plain",
// ("charset" "us-ascii"), "7bit") when absent.
var structureTests = []struct {
	file     string
	envelope string
	body     string // BODY
	bs       string // BODYSTRUCTURE
}{
	{
		file:     "plain.eml",
		envelope: `("Mon, 7 Feb 1994 21:52:25 -0800 (PST)" "afternoon meeting" (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) ((NIL NIL "mooch" "owatagu.siam.edu.example")) NIL NIL NIL "<B27397-0100000@Blurdybloop.example>")`,
		body:     `("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7bit" 55 1)`,
		bs:       `("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7bit" 55 1 NIL NIL NIL NIL)`,
	},
	{
		file:     "alternative.eml",
		envelope: `("Tue, 1 Jun 2021 10:00:00 +0000" "Lunch plans" (("Doe, Jane" NIL "jane" "example.com")) (("Doe, Jane" NIL "jane" "example.com")) (("Doe, Jane" NIL "jane" "example.com")) ((NIL NIL "bob" "example.net")("Carol C." NIL "carol" "example.net")) ((NIL NIL "dave" "example.net")) NIL "<prev@example.net>" "<alt-1@example.com>")`,
		body:     `(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 27 1)("text" "html" ("charset" "utf-8") NIL NIL "7bit" 31 0) "alternative")`,
		bs:       `(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 27 1 NIL NIL NIL NIL)("text" "html" ("charset" "utf-8") NIL NIL "7bit" 31 0 NIL NIL NIL NIL) "alternative" ("boundary" "b1") NIL NIL NIL)`,
	},
	{
		file:     "mixed.eml",
		envelope: `("Wed, 2 Jun 2021 11:30:00 +0200" "Report attached" ((NIL NIL "sender" "example.com")) ((NIL NIL "sender" "example.com")) ((NIL NIL "sender" "example.com")) ((NIL NIL "rcpt" "example.com")) NIL NIL NIL "<mixed-1@example.com>")`,
		body:     `(("text" "plain" ("charset" "iso-8859-1") NIL NIL "quoted-printable" 60 2)("application" "octet-stream" ("name" "data.bin") "<att1@example.com>" "Binary data" "base64" 1402) "mixed")`,
		bs:       `(("text" "plain" ("charset" "iso-8859-1") NIL NIL "quoted-printable" 60 2 NIL NIL NIL NIL)("application" "octet-stream" ("name" "data.bin") "<att1@example.com>" "Binary data" "base64" 1402 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("attachment" ("filename" "data.bin")) ("en" "fr") "http://example.com/data.bin") "mixed" ("boundary" "----=_Part_0") NIL NIL NIL)`,
	},
	{
		file:     "nested.eml",
		envelope: `("Thu, 3 Jun 2021 09:00:00 -0400" "Fwd: original" ((NIL NIL "outer" "example.com")) ((NIL NIL "outer" "example.com")) ((NIL NIL "outer" "example.com")) ((NIL NIL "inner-list" NIL)(NIL NIL "alice" "example.com")(NIL NIL "bob" "example.com")(NIL NIL NIL NIL)(NIL NIL "carol" "example.com")) NIL NIL NIL "<outer@example.com>")`,
		body:     `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 26 0)("message" "rfc822" NIL NIL NIL "7bit" 357 ("Wed, 2 Jun 2021 08:00:00 +0000" "original" (("Original Sender" NIL "orig" "example.org")) (("Original Sender" NIL "orig" "example.org")) (("Original Sender" NIL "orig" "example.org")) NIL NIL NIL NIL "<orig@example.org>") (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 0)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 18 0) "alternative") 15) "mixed")`,
		bs:       `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 26 0 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 357 ("Wed, 2 Jun 2021 08:00:00 +0000" "original" (("Original Sender" NIL "orig" "example.org")) (("Original Sender" NIL "orig" "example.org")) (("Original Sender" NIL "orig" "example.org")) NIL NIL NIL NIL "<orig@example.org>") (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 0 NIL NIL NIL NIL)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 18 0 NIL NIL NIL NIL) "alternative" ("boundary" "inner") NIL NIL NIL) 15 NIL ("inline" NIL) NIL NIL) "mixed" ("boundary" "outer") NIL NIL NIL)`,
	},
	{
		// Encoded-words stay as written (RFC 9051 7.5.2); the folded
		// Subject is unfolded.
		file:     "encoded.eml",
		envelope: `("Fri, 4 Jun 2021 12:00:00 +0200" "=?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?= =?ISO-8859-1?Q?_et_caf=E9?=" (("=?UTF-8?Q?Andr=C3=A9_M=C3=BCller?=" NIL "andre" "example.de")) (("=?UTF-8?Q?Andr=C3=A9_M=C3=BCller?=" NIL "andre" "example.de")) (("=?UTF-8?Q?Andr=C3=A9_M=C3=BCller?=" NIL "andre" "example.de")) (("=?ISO-8859-1?Q?Fran=E7ois?=" NIL "francois" "example.fr")) NIL NIL NIL "<enc@example.de>")`,
		body:     `("text" "plain" ("charset" "ISO-8859-1") NIL NIL "8bit" 16 1)`,
		bs:       `("text" "plain" ("charset" "ISO-8859-1") NIL NIL "8bit" 16 1 NIL NIL NIL NIL)`,
	},
	{
		// Groups: an empty group, a group with members followed by a
		// mailbox named by a comment; an empty Reply-To falls back to From.
		file:     "groups.eml",
		envelope: `("Sat, 5 Jun 2021 08:00:00 +0000" "Groups" ((NIL NIL "boss" "example.com")) ((NIL NIL "secretary" "example.com")) ((NIL NIL "boss" "example.com")) ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) ((NIL NIL "Team" NIL)("Ann A." NIL "ann" "example.com")(NIL NIL "ben" "example.com")(NIL NIL NIL NIL)("Extra Person" NIL "extra" "example.com")) ((NIL NIL "A Group" NIL)(NIL NIL NIL NIL)) NIL NIL)`,
		body:     `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1)`,
		bs:       `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1 NIL NIL NIL NIL)`,
	},
	{
		file:     "missing.eml",
		envelope: `(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)`,
		body:     `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 24 1)`,
		bs:       `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 24 1 NIL NIL NIL NIL)`,
	},
	{
		// No close delimiters: each part ends where its parent does;
		// the garbage header line is skipped.
		file:     "malformed.eml",
		envelope: `(NIL "malformed" ((NIL NIL "broken" "example.com")) ((NIL NIL "broken" "example.com")) ((NIL NIL "broken" "example.com")) NIL NIL NIL NIL NIL)`,
		body:     `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 22 0)(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 19 1) "alternative") "mixed")`,
		bs:       `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 22 0 NIL NIL NIL NIL)(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 19 1 NIL NIL NIL NIL) "alternative" ("boundary" "inner") NIL NIL NIL) "mixed" ("boundary" "never") NIL NIL NIL)`,
	},
	{
		file:     "bare-lf.eml",
		envelope: `(NIL "bare lf" ((NIL NIL "lf" "example.com")) ((NIL NIL "lf" "example.com")) ((NIL NIL "lf" "example.com")) NIL NIL NIL NIL NIL)`,
		body:     `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1) "mixed")`,
		bs:       `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1 NIL NIL NIL NIL) "mixed" ("boundary" "x") NIL NIL NIL)`,
	},
}

func TestStructure(t *testing.T) {
	for _, tt := range structureTests {
		t.Run(tt.file, func(t *testing.T) {
			b := readTestdata(t, tt.file)
			m := parseBytes(t, b)
			if got := render(m.WriteEnvelope); got != tt.envelope {
				t.Errorf("ENVELOPE\n got %s\nwant %s", got, tt.envelope)
			}
			if got := render(func(w *imapwire.Writer) { m.WriteBodyStructure(w, false) }); got != tt.body {
				t.Errorf("BODY\n got %s\nwant %s", got, tt.body)
			}
			if got := render(func(w *imapwire.Writer) { m.WriteBodyStructure(w, true) }); got != tt.bs {
				t.Errorf("BODYSTRUCTURE\n got %s\nwant %s", got, tt.bs)
			}
			// ParseHeader gives the same envelope, and parses the rest
			// on demand.
			h, err := ParseHeader(bytesReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if got := render(h.WriteEnvelope); got != tt.envelope {
				t.Errorf("ParseHeader ENVELOPE\n got %s\nwant %s", got, tt.envelope)
			}
			if got := render(func(w *imapwire.Writer) { h.WriteBodyStructure(w, true) }); got != tt.bs {
				t.Errorf("ParseHeader BODYSTRUCTURE\n got %s\nwant %s", got, tt.bs)
			}
		})
	}
}

// TestStructureEdge covers structures built inline: defaults, RFC 2231
// parameters, digests, encoded message/rfc822, deep nesting.
func TestStructureEdge(t *testing.T) {
	tests := []struct {
		name, msg, bs string
	}{
		{
			name: "empty message",
			msg:  "",
			bs:   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)`,
		},
		{
			name: "header only, no blank line",
			msg:  "Subject: x\r\n",
			bs:   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)`,
		},
		{
			name: "rfc2231 continuation and extended value",
			msg: "Content-Type: application/pdf; name*0=\"long \"; name*1=\"name.pdf\"\r\n" +
				"Content-Disposition: attachment; filename*=utf-8''%C3%A9t%C3%A9.pdf\r\n\r\nx",
			bs: `("application" "pdf" ("name" "long name.pdf") NIL NIL "7bit" 1 NIL ("attachment" ("filename*" "utf-8''%C3%A9t%C3%A9.pdf")) NIL NIL)`,
		},
		{
			name: "rfc2231 segments out of order",
			msg:  "Content-Type: text/plain; charset=utf-8; title*1=\"b\"; title*0=\"a\"\r\n\r\n",
			bs:   `("text" "plain" ("charset" "utf-8" "title" "ab") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)`,
		},
		{
			name: "text without charset keeps other params",
			msg:  "Content-Type: text/plain; format=flowed\r\n\r\nhi\r\n",
			bs:   `("text" "plain" ("charset" "us-ascii" "format" "flowed") NIL NIL "7bit" 4 1 NIL NIL NIL NIL)`,
		},
		{
			name: "unparsable content type is text/plain",
			msg:  "Content-Type: garbage\r\n\r\nhi",
			bs:   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2 0 NIL NIL NIL NIL)`,
		},
		{
			name: "multipart without boundary has an empty part",
			msg:  "Content-Type: multipart/mixed\r\n\r\nhi",
			bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" NIL NIL NIL NIL)`,
		},
		{
			name: "digest parts default to message/rfc822",
			msg:  "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n\r\nbody\r\n--d--\r\n",
			bs:   `(("message" "rfc822" NIL NIL NIL "7bit" 19 (NIL "in" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) "digest" ("boundary" "d") NIL NIL NIL)`,
		},
		{
			name: "base64 message/rfc822 is reported as an empty message",
			msg:  "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n",
			bs:   `("message" "rfc822" NIL NIL NIL "base64" 22 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) 1 NIL NIL NIL NIL)`,
		},
		{
			name: "boundary followed by blanks; longer lookalike is content",
			msg:  "Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab  \r\n\r\n--abc\r\n--ab--\r\n",
			bs:   `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL) "mixed" ("boundary" "ab") NIL NIL NIL)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := parseBytes(t, []byte(tt.msg))
			if got := render(func(w *imapwire.Writer) { m.WriteBodyStructure(w, true) }); got != tt.bs {
				t.Errorf("BODYSTRUCTURE\n got %s\nwant %s", got, tt.bs)
			}
		})
	}
}
