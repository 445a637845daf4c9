package imapmsg

import (
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapwire"
)

// The vectors below are Dovecot's own (src/lib-imap/test-imap-envelope.c,
// copied there from imaptest, and test-imap-bodystructure.c). Dovecot
// writes them without the outer parentheses, and its sizes count CRLF
// line ends; the messages are converted to CRLF, as the store keeps them,
// so the numbers match byte for byte.

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestDovecotEnvelopes(t *testing.T) {
	tests := []struct{ message, envelope string }{
		{
			"Message-ID: <msg@id>\n" +
				"In-Reply-To: <reply@to.id>\n" +
				"Date: Thu, 15 Feb 2007 01:02:03 +0200\n" +
				"Subject: subject header\n" +
				"From: From Real <fromuser@fromdomain.org>\n" +
				"To: To Real <touser@todomain.org>\n" +
				"Cc: Cc Real <ccuser@ccdomain.org>\n" +
				"Bcc: Bcc Real <bccuser@bccdomain.org>\n" +
				"Sender: Sender Real <senderuser@senderdomain.org>\n" +
				"Reply-To: ReplyTo Real <replytouser@replytodomain.org>\n" +
				"\n" +
				"body\n",
			`"Thu, 15 Feb 2007 01:02:03 +0200" "subject header" (("From Real" NIL "fromuser" "fromdomain.org")) (("Sender Real" NIL "senderuser" "senderdomain.org")) (("ReplyTo Real" NIL "replytouser" "replytodomain.org")) (("To Real" NIL "touser" "todomain.org")) (("Cc Real" NIL "ccuser" "ccdomain.org")) (("Bcc Real" NIL "bccuser" "bccdomain.org")) "<reply@to.id>" "<msg@id>"`,
		},
		{
			"Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: user@domain\n\nbody\n",
			`"Thu, 15 Feb 2007 01:02:03 +0200" NIL ((NIL NIL "user" "domain")) ((NIL NIL "user" "domain")) ((NIL NIL "user" "domain")) NIL NIL NIL NIL NIL`,
		},
		{
			"Date: Thu, 15 Feb 2007 01:02:03 +0200\n" +
				"From: user@domain (Real Name)\n" +
				"To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\n" +
				"Cc: group:;, group2: (foo) ;\n" +
				"\n" +
				"body\n",
			`"Thu, 15 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) ((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL)) ((NIL NIL "group" NIL)(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL)) NIL NIL NIL`,
		},
		{
			"Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: user@domain (Real Name)\nSender: \nReply-To: \n\nbody\n",
			`"Thu, 15 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) NIL NIL NIL NIL NIL`,
		},
		{
			"Date: Thu, 15 Feb 2007 01:02:03 +0200\nFrom: <@route:user@domain>\n\nbody\n",
			`"Thu, 15 Feb 2007 01:02:03 +0200" NIL ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) NIL NIL NIL NIL NIL`,
		},
	}
	for i, tt := range tests {
		m := parseBytes(t, []byte(crlf(tt.message)))
		if got, want := render(m.WriteEnvelope), "("+tt.envelope+")"; got != want {
			t.Errorf("%d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestDovecotBodyStructure(t *testing.T) {
	msg := crlf("From: user@domain.org\n" +
		"Date: Sat, 24 Mar 2007 23:00:00 +0200\n" +
		"Mime-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"foo\n" +
		" bar\"\n" +
		"\n" +
		"Root MIME prologue\n" +
		"\n" +
		"--foo bar\n" +
		"Content-Type: text/x-myown; charset=us-ascii; foo=\"quoted\\\"string\"\n" +
		"Content-ID: <foo@example.com>\n" +
		"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n" +
		"Content-Disposition: inline; foo=bar\n" +
		"Content-Description: hellodescription\n" +
		"Content-Language: en, fi, se\n" +
		"Content-Location: http://example.com/test.txt\n" +
		"\n" +
		"hello\n" +
		"\n" +
		"--foo bar\n" +
		"Content-Type: message/rfc822\n" +
		"\n" +
		"From: sub@domain.org\n" +
		"To: sub-to1@domain.org, sub-to2@domain.org\n" +
		"Date: Sun, 12 Aug 2012 12:34:56 +0300\n" +
		"Subject: submsg\n" +
		"Content-Type: multipart/alternative; boundary=\"sub1\"\n" +
		"\n" +
		"Sub MIME prologue\n" +
		"--sub1\n" +
		"Content-Type: text/html\n" +
		"Content-Transfer-Encoding: 8bit\n" +
		"\n" +
		"<p>Hello world</p>\n" +
		"\n" +
		"--sub1\n" +
		"Content-Type: text/plain\n" +
		"Content-Transfer-Encoding: ?invalid\n" +
		"\n" +
		"Hello another world\n" +
		"\n" +
		"--sub1--\n" +
		"Sub MIME epilogue\n" +
		"\n" +
		"--foo bar--\n" +
		"Root MIME epilogue\n")
	bs := `("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\"string") "<foo@example.com>" "hellodescription" "7bit" 7 1 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("inline" ("foo" "bar")) ("en" "fi" "se") "http://example.com/test.txt")("message" "rfc822" NIL NIL NIL "7bit" 412 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) NIL NIL NIL NIL) (("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1 NIL NIL NIL NIL)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1 NIL NIL NIL NIL) "alternative" ("boundary" "sub1") NIL NIL NIL) 21 NIL NIL NIL NIL) "mixed" ("boundary" "foo bar") NIL NIL NIL`
	body := `("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\"string") "<foo@example.com>" "hellodescription" "7bit" 7 1)("message" "rfc822" NIL NIL NIL "7bit" 412 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) NIL NIL NIL NIL) (("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1) "alternative") 21) "mixed"`
	m := parseBytes(t, []byte(msg))
	if got := render(func(w *imapwire.Writer) { m.WriteBodyStructure(w, true) }); got != "("+bs+")" {
		t.Errorf("BODYSTRUCTURE\n got %s\nwant (%s)", got, bs)
	}
	if got := render(func(w *imapwire.Writer) { m.WriteBodyStructure(w, false) }); got != "("+body+")" {
		t.Errorf("BODY\n got %s\nwant (%s)", got, body)
	}
}
