package imapserver_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

func TestFetch(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 2)
	c := selectInbox(t, srv)
	msg := testMessage(1)
	hdr, body, _ := strings.Cut(msg, "\r\n\r\n")
	hdr += "\r\n\r\n"
	c.Run(`
C: a1 FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE)
S~ \* 1 FETCH \(UID 1 FLAGS \(\\Recent\) RFC822\.SIZE ` + itoa(len(msg)) + ` INTERNALDATE "\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [-+]\d{4}"\)
S: a1 OK FETCH completed
C: a2 FETCH 1 (ENVELOPE)
S: * 1 FETCH (ENVELOPE ("Mon, 02 Jan 2006 15:04:05 -0700" "Hello 1" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<1@example.org>"))
S: a2 OK FETCH completed
C: a3 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[TEXT])
S: * 1 FETCH (BODY[HEADER.FIELDS (Subject)] {20}\r\nSubject: Hello 1\r\n\r\n BODY[TEXT] {` + itoa(len(body)) + `}\r\n` + esc(body) + `)
S: a3 OK FETCH completed
C: a4 FETCH 1 (BODY.PEEK[]<0.4> FLAGS)
S: * 1 FETCH (BODY[]<0> {4}\r\nFrom FLAGS (\Recent))
S: a4 OK FETCH completed
C: a5 FETCH 1 BODY[HEADER]
S: * 1 FETCH (BODY[HEADER] {` + itoa(len(hdr)) + `}\r\n` + esc(hdr) + ` FLAGS (\Seen \Recent))
S: a5 OK FETCH completed
C: a6 UID FETCH 2 (BODYSTRUCTURE)
S~ (?i)\* 2 FETCH \(UID 2 BODYSTRUCTURE \("TEXT" "PLAIN" \("CHARSET" "us-ascii"\) NIL NIL "7BIT" \d+ \d+.*\)\)
S: a6 OK UID FETCH completed
C: a7 FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1])
S: * 2 FETCH (BINARY[1] {14}\r\nHello body 2\r\n BINARY.SIZE[1] 14)
S: a7 OK FETCH completed
C: a8 FETCH 2 RFC822.HEADER
S~ \* 2 FETCH \(RFC822\.HEADER \{\d+\}\r\nFrom: .*\r\n\r\n\)
S: a8 OK FETCH completed
C: a9 FETCH 3 FLAGS
S: a9 BAD Invalid sequence number (mailbox has 2 messages)
C: b1 UID FETCH 3:* FLAGS
S: * 2 FETCH (UID 2 FLAGS (\Recent))
S: b1 OK UID FETCH completed
C: b2 UID FETCH 5:7 FLAGS
S: b2 OK UID FETCH completed
C: b3 FETCH 1:* FAST
S~ \* 1 FETCH \(FLAGS \(\\Seen \\Recent\) INTERNALDATE "[^"]+" RFC822\.SIZE \d+\)
S~ \* 2 FETCH .*
S: b3 OK FETCH completed
C: b4 FETCH 2 RFC822
S: * 2 FETCH (RFC822 {` + itoa(len(msg)) + `}\r\n` + esc(testMessage(2)) + ` FLAGS (\Seen \Recent))
S: b4 OK FETCH completed
`)
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestEnvelopeRepeatedAddressFields: a message with two To: and two Cc:
// lines lists the addresses of all of them in its ENVELOPE, as Dovecot
// does, from the kept envelope (ENVELOPE alone) and from the parsed file
// (with BODYSTRUCTURE) alike; of two Subject: and Date: lines the first
// wins (docs/design.md); SEARCH TO and CC find an address of the second
// line.
func TestEnvelopeRepeatedAddressFields(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.Append("INBOX", "From: a@example.org\r\nSubject: first\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n"+
		"To: b@example.org\r\nCc: c@example.org\r\nTo: Dee <d@example.org>\r\nSubject: second\r\n"+
		"Date: Tue, 03 Jan 2006 15:04:05 +0000\r\nCc: e@example.org\r\n\r\nbody\r\n")
	c.MustOK("SELECT INBOX")
	const env = `\(ENVELOPE \("Mon, 02 Jan 2006 15:04:05 \+0000" "first" \(\(NIL NIL "a" "example.org"\)\) ` +
		`\(\(NIL NIL "a" "example.org"\)\) \(\(NIL NIL "a" "example.org"\)\) ` +
		`\(\(NIL NIL "b" "example.org"\)\("Dee" NIL "d" "example.org"\)\) ` +
		`\(\(NIL NIL "c" "example.org"\)\(NIL NIL "e" "example.org"\)\) NIL NIL NIL\)`
	c.Run(`
C: f1 FETCH 1 ENVELOPE
S~ \* 1 FETCH ` + env + `\)
S: f1 OK FETCH completed
C: f2 FETCH 1 (ENVELOPE BODYSTRUCTURE)
S~ \* 1 FETCH ` + env + ` BODYSTRUCTURE .*\)
S: f2 OK FETCH completed
C: s1 SEARCH TO d@example.org CC e@example.org
S: * SEARCH 1
S: s1 OK SEARCH completed
C: s2 SEARCH SUBJECT second
S: * SEARCH 1
S: s2 OK SEARCH completed
`)
}
