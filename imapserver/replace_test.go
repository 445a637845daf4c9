package imapserver_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/mailstore/maildir"
)

// draft returns a small draft message with the given body.
func draft(body string) string {
	return "From: alice@example.org\r\nSubject: Draft\r\n\r\n" + body + "\r\n"
}

// TestReplace: RFC 8508 REPLACE and UID REPLACE. The new message's
// APPENDUID comes in an untagged OK, then the old message's EXPUNGE
// (VANISHED under QRESYNC) and, when it stays in the selected mailbox,
// the new one's EXISTS (3.3's examples); the old message is gone and the
// new one has the flags given.
func TestReplace(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	if caps := c.Cmd("c CAPABILITY")[0]; !strings.Contains(caps, " REPLACE") {
		t.Fatalf("REPLACE not advertised: %s", caps)
	}
	for i := 1; i <= 3; i++ {
		appendMsg(t, c, "Drafts", `\Draft`, draft(fmt.Sprint("version ", i)))
	}
	c.Cmd("s SELECT Drafts")
	v2 := draft("version 2b")
	c.Write(fmt.Sprintf("r1 REPLACE 2 Drafts (\\Seen \\Draft) {%d+}\r\n%s\r\n", len(v2), v2))
	c.Run(`
S~ \* OK \[APPENDUID \d+ 4\] .*
S: * 2 EXPUNGE
S: * 3 EXISTS
S: * 3 RECENT
S: r1 OK REPLACE completed
C: f1 FETCH 1:* (UID FLAGS BODY.PEEK[TEXT])
S: * 1 FETCH (UID 1 FLAGS (\Draft \Recent) BODY[TEXT] {11}\r\nversion 1\r\n)
S: * 2 FETCH (UID 3 FLAGS (\Draft \Recent) BODY[TEXT] {11}\r\nversion 3\r\n)
S: * 3 FETCH (UID 4 FLAGS (\Draft \Seen \Recent) BODY[TEXT] {12}\r\nversion 2b\r\n)
S~ f1 OK .*
`)
	// UID REPLACE into another mailbox, under QRESYNC: VANISHED, no
	// EXISTS here.
	c2 := srv.Login(t, srv.Alice)
	c2.Cmd("e ENABLE QRESYNC")
	c2.Cmd("s SELECT Drafts")
	v3 := draft("sent")
	c2.Write(fmt.Sprintf("r2 UID REPLACE 3 Sent {%d+}\r\n%s\r\n", len(v3), v3))
	c2.Run(`
S~ \* OK \[APPENDUID \d+ 1\] .*
S: * VANISHED 3
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S~ r2 OK .*
C: s2 STATUS Sent (MESSAGES)
S: * STATUS Sent (MESSAGES 1)
S~ s2 OK .*
C: s3 UID SEARCH ALL
S: * SEARCH 1 4
S~ s3 OK .*
`)
	// The first session hears of it.
	c.Run(`
C: n NOOP
S: * 2 EXPUNGE
S~ n OK .*
`)
	// Errors leave the old message where it was.
	c2.Write(fmt.Sprintf("r3 UID REPLACE 4 Nowhere {%d+}\r\n%s\r\n", len(v3), v3))
	c2.Run(`
S~ r3 NO \[TRYCREATE\] .*
`)
	c2.Write(fmt.Sprintf("r4 UID REPLACE 99 Drafts {%d+}\r\n%s\r\n", len(v3), v3))
	c2.Run(`
S~ r4 NO \[NONEXISTENT\] .*
`)
	c2.Write(fmt.Sprintf("r5 REPLACE 9 Drafts {%d+}\r\n%s\r\n", len(v3), v3))
	c2.Run(`
S~ r5 BAD .*
`)
	c2.Write("r6 REPLACE 1 Drafts {0+}\r\n\r\n")
	c2.Run(`
S~ r6 NO \[CANNOT\] .*
C: s4 UID SEARCH ALL
S: * SEARCH 1 4
S~ s4 OK .*
C: x EXAMINE Drafts
S~ .*
`)
	c2.ReadUntilTagged("x")
	c2.Write(fmt.Sprintf("r7 REPLACE 1 Drafts {%d+}\r\n%s\r\n", len(v3), v3))
	c2.Run(`
S~ r7 NO \[CANNOT\] .*
`)
}

// TestReplaceLimits: REPLACE obeys APPEND's limits. A message over
// APPENDLIMIT is refused before it is sent (NO [TOOBIG]); one that would
// take the user over quota gets NO [OVERQUOTA], counting the space the
// old message frees; either way the old message stays.
func TestReplaceLimits(t *testing.T) {
	srv := testserver.Start(t, testserver.WithStoreOptions(func(o *maildir.Options) {
		o.QuotaLimits = func(string) mailstore.QuotaLimits { return mailstore.QuotaLimits{Storage: 2560} }
	}), testserver.WithConfig(func(cfg *imapserver.Config) { cfg.Limits.MaxLiteral = 3000 }))
	c := srv.Login(t, srv.Alice)
	appendMsg(t, c, "INBOX", "", draft(strings.Repeat("a", 2000)))
	c.Cmd("s SELECT INBOX")
	c.Run(`
C: r1 REPLACE 1 INBOX {5000}
S~ r1 NO \[TOOBIG\] .*
`)
	// Quota 2,560 bytes, the old message 2,045: a new one of 2,945 is
	// over it, one of 2,545 fits once the old one is gone.
	big := draft(strings.Repeat("b", 2900))
	mid := draft(strings.Repeat("c", 2500))
	c.Write(fmt.Sprintf("r2 REPLACE 1 Drafts {%d+}\r\n%s\r\n", len(big), big))
	c.Write(fmt.Sprintf("r3 REPLACE 1 INBOX {%d+}\r\n%s\r\n", len(mid), mid))
	c.Run(`
S~ r2 NO \[OVERQUOTA\] .*
S~ \* OK \[APPENDUID \d+ 2\] .*
S: * 1 EXPUNGE
S: * 1 EXISTS
S: * 1 RECENT
S~ r3 OK .*
`)
}

// TestReplaceCatenate: REPLACE and UID REPLACE take the CATENATE form of
// the message (RFC 8508 3's append-message, which RFC 4469 extends): a
// URL may name the very message replaced (a new body under its header),
// a synchronizing TEXT literal gets its continuation; a URL that cannot
// be followed answers NO [BADURL], a missing destination NO [TRYCREATE]
// before any URL is followed, an assembly over the literal limit NO
// [TOOBIG], an empty one NO [CANNOT]: each time the old message stays,
// nothing is appended and no spooled assembly is left.
func TestReplaceCatenate(t *testing.T) {
	var spool string
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.MaxLiteral = 400
		spool = cfg.SpoolDir
	}))
	c := srv.Login(t, srv.Alice)
	appendMsg(t, c, "Drafts", `\Draft`, draft("version 1"))
	appendMsg(t, c, "Drafts", `\Draft`, draft("version 2"))
	c.Cmd("s SELECT Drafts")
	c.Run(`
C: r1 UID REPLACE 1 Drafts (\Draft) CATENATE (URL ";UID=1/;SECTION=HEADER" TEXT {10+}\r\nnew body\r\n)
S~ \* OK \[APPENDUID \d+ 3\] .*
S: * 1 EXPUNGE
S: * 2 EXISTS
S: * 2 RECENT
S: r1 OK REPLACE completed
C: r2 REPLACE 1 Drafts CATENATE (URL "/Drafts/;UID=2/;SECTION=HEADER" TEXT {8}
S: + Ready for literal data
C: synced\r\n)
S~ \* OK \[APPENDUID \d+ 4\] .*
S: * 1 EXPUNGE
S: * 2 EXISTS
S: * 2 RECENT
S: r2 OK REPLACE completed
C: e1 UID REPLACE 4 Drafts CATENATE (URL ";UID=99")
S: e1 NO [BADURL ;UID=99] Bad URL: no such message
C: e2 UID REPLACE 4 Nowhere CATENATE (URL "imap://mail.example.net/INBOX/;UID=1")
S~ e2 NO \[TRYCREATE\] .*
C: e3 UID REPLACE 4 Drafts CATENATE (URL ";UID=4" URL ";UID=4" URL ";UID=4" URL ";UID=4" URL ";UID=4" URL ";UID=4" URL ";UID=4" URL ";UID=4" URL ";UID=4")
S: e3 NO [TOOBIG] Message would exceed the limit of 400 bytes
C: e4 UID REPLACE 4 Drafts CATENATE (URL ";UID=4/;PARTIAL=9999")
S: e4 NO [CANNOT] Empty message
C: e5 UID REPLACE 4 Drafts (\Seen) CATENATE (TEXT {1+}\r\nx URL "/Drafts/;UID=3/;SECTION=TEXT")
S~ \* OK \[APPENDUID \d+ 5\] .*
S: * 2 EXPUNGE
S: * 2 EXISTS
S: * 2 RECENT
S: e5 OK REPLACE completed
C: f1 UID FETCH 1:* (FLAGS BODY.PEEK[])
S: * 1 FETCH (UID 3 FLAGS (\Draft \Recent) BODY[] {53}\r\nFrom: alice@example.org\r\nSubject: Draft\r\n\r\nnew body\r\n)
S: * 2 FETCH (UID 5 FLAGS (\Seen \Recent) BODY[] {11}\r\nxnew body\r\n)
S~ f1 OK .*
C: st STATUS Drafts (MESSAGES UIDNEXT)
S: * STATUS Drafts (MESSAGES 2 UIDNEXT 6)
S~ st OK .*
`)
	entries, err := os.ReadDir(spool)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "dormouse-catenate-") {
			t.Errorf("spool keeps %s", e.Name())
		}
	}
}
