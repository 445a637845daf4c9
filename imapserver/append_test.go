package imapserver_test

import (
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

func TestAppend(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	m1, m2 := testMessage(1), testMessage(2)
	e1, e2 := esc(m1), esc(m2)
	c.Run(`
C: a1 APPEND INBOX (\Seen $Label) "05-Mar-2024 10:00:00 +0100" {` + itoa(len(m1)) + `}
S: + Ready for literal data
C: ` + e1 + `
S~ a1 OK \[APPENDUID \d+ 1\] APPEND completed
C: a2 APPEND Nope {` + itoa(len(m1)) + `+}\r\n` + e1 + `
S: a2 NO [TRYCREATE] No such mailbox
C: a3 APPEND INBOX {` + itoa(len(m1)) + `+}\r\n` + e1 + ` (\Flagged) {` + itoa(len(m2)) + `+}\r\n` + e2 + `
S~ a3 OK \[APPENDUID \d+ 2:3\] APPEND completed
C: a4 SELECT INBOX
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Label)
S~ (?s).*
S: * 3 EXISTS
S~ (?s).*
S~ (?s).*
S~ (?s).*
S~ (?s).*
S~ (?s).*
S~ (?s).*
S: a4 OK [READ-WRITE] SELECT completed
C: a5 FETCH 1:3 (FLAGS INTERNALDATE)
S: * 1 FETCH (FLAGS ($Label \Seen \Recent) INTERNALDATE "05-Mar-2024 09:00:00 +0000")
S~ \* 2 FETCH \(FLAGS \(\\Recent\) INTERNALDATE ".*"\)
S~ \* 3 FETCH \(FLAGS \(\\Flagged \\Recent\) INTERNALDATE ".*"\)
S: a5 OK FETCH completed
`)
	appendMsg(t, c, "INBOX", "", testMessage(4))
	c.Run(`
C: a6 NOOP
S: a6 OK NOOP completed
C: a7 FETCH 4 UID
S: * 4 FETCH (UID 4)
S: a7 OK FETCH completed
`)
}

// TestAppendTooBig checks that an APPEND over the literal limit gets
// NO [TOOBIG] without its literal being read first (RFC 7889, RFC 9051
// 7.1), and that the connection goes on.
func TestAppendTooBig(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.MaxLiteral = 1000
	}))
	c := srv.Login(t, srv.Alice)
	big := strings.Repeat("x", 2000)
	c.Run(`
C: a1 APPEND INBOX {2000}
S~ a1 NO \[TOOBIG\] .*
C: a2 NOOP
S: a2 OK NOOP completed
`)
	_ = big
}

// TestAppendLarge appends a message above the spool threshold, which the
// Decoder writes to a file rather than memory.
func TestAppendLarge(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	body := strings.Repeat(strings.Repeat("x", 78)+"\r\n", 30000) // 2.4 MB
	msg := "Subject: big\r\n\r\n" + body
	c.Write("a1 APPEND INBOX {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	c.Expect(`S~ a1 OK \[APPENDUID \d+ 1\] APPEND completed`)
	c.Run(`
C: a2 EXAMINE INBOX
S~ (?s).*
S~ .*
S: * 1 EXISTS
S~ .*
S~ .*
S~ .*
S~ .*
S~ .*
S~ .*
S: a2 OK [READ-ONLY] EXAMINE completed
C: a3 FETCH 1 (RFC822.SIZE BODY.PEEK[TEXT]<2399990.100>)
S: * 1 FETCH (RFC822.SIZE ` + itoa(len(msg)) + ` BODY[TEXT]<2399990> {10}\r\nxxxxxxxx\r\n)
S: a3 OK FETCH completed
`)
}

// TestLiteralPlusNotMinus: the server offers LITERAL+ and not LITERAL-
// (RFC 7888 5 forbids advertising both; LITERAL+ allows more), so a
// non-synchronizing literal beyond LITERAL-'s 4,096 octets is taken
// (RFC 7888 4's limit is not applied).
func TestLiteralPlusNotMinus(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	caps := c.Cmd("c CAPABILITY")[0]
	if !strings.Contains(caps, " LITERAL+ ") || strings.Contains(caps, "LITERAL-") {
		t.Fatalf("capabilities: %s", caps)
	}
	msg := "Subject: big\r\n\r\n" + strings.Repeat("x", 5000) + "\r\n"
	c.Write("a1 APPEND INBOX {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	c.Expect(`S~ a1 OK \[APPENDUID \d+ 1\] APPEND completed`)
}
