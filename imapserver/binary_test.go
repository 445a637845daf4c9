package imapserver_test

import (
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestBinaryAndSaveDate covers BINARY (RFC 3516) on a base64 part and
// SAVEDATE (RFC 8514) in FETCH and SEARCH.
func TestBinaryAndSaveDate(t *testing.T) {
	srv := testserver.Start(t)
	msg := strings.ReplaceAll(`From: a@example.org
Subject: attachment
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

see attached
--b1
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAwQFBgc=
--b1--
`, "\n", "\r\n")
	c := srv.Login(t, srv.Alice)
	appendMsg(t, c, "INBOX", "", msg)
	c.Run(`
C: a1 SELECT INBOX
S~ (?s).*
S~ .*
S: * 1 EXISTS
S~ .*
S~ .*
S~ .*
S~ .*
S~ .*
S~ .*
S: a1 OK [READ-WRITE] SELECT completed
C: a2 FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])
S: * 1 FETCH (BINARY.SIZE[2] 8 BINARY[2] ~{8}\r\n` + "\x00\x01\x02\x03\x04\x05\x06\x07" + `)
S: a2 OK FETCH completed
C: a3 FETCH 1 (BINARY.PEEK[1]<4.4>)
S: * 1 FETCH (BINARY[1]<4> {4}\r\natta)
S: a3 OK FETCH completed
C: a4 FETCH 1 (SAVEDATE)
S~ \* 1 FETCH \(SAVEDATE "\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [-+]\d{4}"\)
S: a4 OK FETCH completed
C: a5 SEARCH SAVEDATESUPPORTED SAVEDSINCE 1-Jan-2020
S: * SEARCH 1
S: a5 OK SEARCH completed
C: a6 SEARCH SAVEDBEFORE 1-Jan-2020
S: * SEARCH
S: a6 OK SEARCH completed
C: a7 FETCH 1 (BODY.PEEK[2.MIME] BODY.PEEK[3])
S: * 1 FETCH (BODY[2.MIME] {77}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n BODY[3] {0}\r\n)
S: a7 OK FETCH completed
`)
}

// TestBinaryNested: BINARY and BINARY.SIZE of the parts of a
// multipart/mixed inside a message/rfc822 inside a multipart/alternative
// agree with the decoded content (quoted-printable, base64), a part in an
// encoding that cannot be decoded answers NO [UNKNOWN-CTE] (RFC 3516
// 4.3) and the session goes on, and only data with a NUL octet comes as
// a literal8 (RFC 9051 7.5.2), as Dovecot sends it.
func TestBinaryNested(t *testing.T) {
	srv := testserver.Start(t)
	inner := strings.ReplaceAll(`From: b@example.org
Subject: inner
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

caf=C3=A9 cr=
=C3=A8me
--inner
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAwQFBgc=
--inner
Content-Type: application/octet-stream
Content-Transfer-Encoding: x-uuencode

begin 644 x
end
--inner--`, "\n", "\r\n")
	msg := strings.ReplaceAll(`From: a@example.org
Subject: nested
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="outer"

--outer
Content-Type: text/plain

plain
--outer
Content-Type: message/rfc822

`, "\n", "\r\n") + inner + "\r\n--outer--\r\n"
	c := srv.Login(t, srv.Alice)
	appendMsg(t, c, "INBOX", "", msg)
	c.Cmd("s SELECT INBOX")
	c.Run(`
C: a1 FETCH 1 (BINARY.SIZE[2.1] BINARY.PEEK[2.1])
S: * 1 FETCH (BINARY.SIZE[2.1] 12 BINARY[2.1] {12}\r\ncafé crème)
S~ a1 OK .*
C: a2 FETCH 1 (BINARY.SIZE[2.2] BINARY.PEEK[2.2] BINARY.PEEK[2.2]<2.3>)
S: * 1 FETCH (BINARY.SIZE[2.2] 8 BINARY[2.2] ~{8}\r\n` + "\x00\x01\x02\x03\x04\x05\x06\x07" + ` BINARY[2.2]<2> ~{3}\r\n` + "\x02\x03\x04" + `)
S~ a2 OK .*
C: a3 FETCH 1 (BINARY.SIZE[2.3])
S~ a3 NO \[UNKNOWN-CTE\] .*
C: a4 FETCH 1 (BINARY.PEEK[2.3])
S~ a4 NO \[UNKNOWN-CTE\] .*
C: a5 FETCH 1 (BINARY.SIZE[2] BINARY.SIZE[1] BINARY.PEEK[1])
S: * 1 FETCH (BINARY.SIZE[2] ` + itoa(len(inner)) + ` BINARY.SIZE[1] 5 BINARY[1] {5}\r\nplain)
S~ a5 OK .*
C: a6 FETCH 1 (FLAGS)
S: * 1 FETCH (FLAGS (\Recent))
S~ a6 OK .*
`)
}

// TestBinaryAppend: a message APPENDed as a literal8 (RFC 3516 4.4) with
// a part in the binary transfer encoding holding NULs, beside a base64
// part, comes back as Dovecot gives it: the binary part stored in base64
// (BODY[1] is text, its MIME header says base64, no NUL goes out in a
// literal), BINARY[1] and BINARY.SIZE[1] its octets as sent, in a
// literal8; the base64 part as it was.
func TestBinaryAppend(t *testing.T) {
	srv := testserver.Start(t)
	blob := "\x00\x01\x02binary\x00\r\n\xff\xfe"
	msg := "From: a@example.org\r\nSubject: binary\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + blob +
		"\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n"
	c := srv.Login(t, srv.Alice)
	c.Write("a1 APPEND INBOX ~{" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	c.Expect(`S~ a1 OK \[APPENDUID \d+ 1\] .*`)
	c.Cmd("s SELECT INBOX")
	got := c.Cmd("f1 FETCH 1 (BODY.PEEK[1.MIME] BODY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[1])")
	want := "* 1 FETCH (BODY[1.MIME] {77}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		" BODY[1] {20}\r\nAAECYmluYXJ5AA0K//4= BINARY.SIZE[1] 14 BINARY[1] ~{14}\r\n" + blob + ")"
	if len(got) != 2 || got[0] != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	c.Run(`
C: f2 FETCH 1 (BODY.PEEK[2] BINARY.PEEK[2] BINARY.SIZE[2])
S: * 1 FETCH (BODY[2] {8}\r\naGVsbG8= BINARY[2] {5}\r\nhello BINARY.SIZE[2] 5)
S~ f2 OK .*
C: f3 FETCH 1 (BODYSTRUCTURE)
S~ \* 1 FETCH \(BODYSTRUCTURE \(\("application" "octet-stream" NIL NIL NIL "base64" 20 NIL NIL NIL NIL\)\("text" "plain" \("charset" "us-ascii"\) NIL NIL "base64" 8 0 NIL NIL NIL NIL\) "mixed" .*
S~ f3 OK .*
`)
	lines := c.Cmd("f4 FETCH 1 BODY.PEEK[]")
	if strings.Contains(strings.Join(lines, ""), "\x00") {
		t.Fatalf("BODY[] holds a NUL: %q", lines)
	}
}
