package imapserver_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
)

// catSource is the message the CATENATE tests quote from: a text part and
// a base64 part.
const catSource = "From: a@example.org\r\nSubject: orig\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\npart one\r\n" +
	"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n"

// fetchBody returns the BODY[] of the message with uid in the selected
// mailbox, as the one FETCH response line carries it.
func fetchBody(t *testing.T, c *testserver.Client, uid int) string {
	t.Helper()
	lines := c.MustOK(fmt.Sprintf("UID FETCH %d BODY.PEEK[]", uid))
	if len(lines) != 2 {
		t.Fatalf("UID FETCH %d: %q", uid, lines)
	}
	_, body, ok := strings.Cut(lines[0], "}\r\n")
	if !ok {
		t.Fatalf("UID FETCH %d: no literal in %q", uid, lines[0])
	}
	return strings.TrimSuffix(body, ")")
}

// TestCatenate: APPEND CATENATE (RFC 4469) builds a message from TEXT
// literals and URLs naming messages of this server, relative to the
// selected mailbox or absolute with the host the client used and no
// port (or the connection's port), with sections and partial ranges;
// in a MULTIAPPEND too; a synchronizing TEXT literal gets its
// continuation; a TEXT literal8 carries binary data.
func TestCatenate(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.ServerNames = []string{"mail.example.org"}
	}))
	c := srv.Login(t, srv.Alice)
	caps, _ := cmdResult(c, "c0", "CAPABILITY")
	if !strings.Contains(caps[0], " CATENATE") {
		t.Fatalf("CAPABILITY: %q", caps)
	}
	c.Append("INBOX", catSource)
	c.MustOK("SELECT INBOX")
	_, port, _ := strings.Cut(srv.Addr, ":")
	c.Run(`
C: a1 APPEND Drafts CATENATE (TEXT {16+}\r\nSubject: fwd\r\n\r\n URL "/INBOX/;UID=1/;SECTION=1" TEXT {2+}\r\n\r\n URL ";UID=1/;SECTION=2/;PARTIAL=1.2")
S~ a1 OK \[APPENDUID \d+ 1\] APPEND completed
C: a2 APPEND Drafts (\Seen) CATENATE (URL "imap://alice@MAIL.example.org/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(Subject)" URL "imap://127.0.0.1:` + port + `/INBOX/;UID=1/;SECTION=1.MIME") CATENATE (URL "imap://127.0.0.1/INBOX/;UID=1/;SECTION=TEXT/;PARTIAL=200" TEXT {1+}\r\nz) {3+}\r\nabc
S~ a2 OK \[APPENDUID \d+ 2:4\] APPEND completed
C: a4 APPEND Drafts CATENATE (URL ";UID=1/;SECTION=1" TEXT {3}
S: + Ready for literal data
C: !\r\n)
S~ a4 OK \[APPENDUID \d+ 5\] APPEND completed
C: a3 APPEND Drafts CATENATE (TEXT ~{5+}\r\nx:` + "\x00" + `\r\n URL ";uid=1/;partial=0.4")
S~ a3 OK \[APPENDUID \d+ 6\] APPEND completed
`)
	c.MustOK("SELECT Drafts")
	for uid, want := range map[int]string{
		1: "Subject: fwd\r\n\r\npart one\r\nAE",
		2: "Subject: orig\r\n\r\nContent-Type: text/plain\r\n\r\n",
		3: "z",
		4: "abc",
		5: "part one!\r\n",
		6: "x:\x00\r\nFrom",
	} {
		if got := fetchBody(t, c, uid); got != want {
			t.Errorf("UID %d: BODY[] = %q, want %q", uid, got, want)
		}
	}
}

// TestCatenateRefusals: a URL this server will not follow refuses the
// APPEND with NO [BADURL url] and a reason (RFC 4469 6), appending
// nothing, the connection usable: a URL into another user's mailbox,
// another server or port, a missing mailbox, message or section, a wrong
// UIDVALIDITY, a malformed URL, a relative URL with no mailbox selected;
// a missing target mailbox is [TRYCREATE] before any URL is followed;
// an assembled message over the literal limit (APPENDLIMIT) is [TOOBIG];
// the spooled assembly is removed in every case.
func TestCatenateRefusals(t *testing.T) {
	var spool string
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.MaxLiteral = 400
		spool = cfg.SpoolDir
	}))
	bob := srv.Login(t, srv.Bob)
	bob.Append("INBOX", "Subject: bob's\r\n\r\nprivate\r\n")
	bob.Close()
	c := srv.Login(t, srv.Alice)
	c.Append("INBOX", catSource)
	c.Run(`
C: r0 APPEND INBOX CATENATE (URL ";UID=1")
S: r0 NO [BADURL ;UID=1] Bad URL: relative URL and no mailbox selected
C: r1 APPEND INBOX CATENATE (URL "/INBOX/;UID=1/;SECTION=1") {3+}\r\nabc
S~ r1 OK \[APPENDUID \d+ 2:3\] APPEND completed
`)
	c.MustOK("SELECT INBOX")
	c.Run(`
C: e1 APPEND INBOX CATENATE (URL "imap://bob@127.0.0.1/INBOX/;UID=1")
S: e1 NO [BADURL imap://bob@127.0.0.1/INBOX/;UID=1] Bad URL: URL names another user's mailbox
C: e2 APPEND INBOX CATENATE (URL "imap://mail.example.net/INBOX/;UID=1")
S: e2 NO [BADURL imap://mail.example.net/INBOX/;UID=1] Bad URL: URL names another server
C: e3 APPEND INBOX CATENATE (URL "imap://127.0.0.1:1/INBOX/;UID=1")
S: e3 NO [BADURL imap://127.0.0.1:1/INBOX/;UID=1] Bad URL: URL names another server
C: e4 APPEND INBOX CATENATE (URL "/Nope/;UID=1")
S: e4 NO [BADURL /Nope/;UID=1] Bad URL: no such mailbox
C: e5 APPEND INBOX CATENATE (URL ";UID=99")
S: e5 NO [BADURL ;UID=99] Bad URL: no such message
C: e6 APPEND INBOX CATENATE (URL "/INBOX;UIDVALIDITY=1/;UID=1")
S: e6 NO [BADURL /INBOX;UIDVALIDITY=1/;UID=1] Bad URL: UIDVALIDITY is not the mailbox's
C: e7 APPEND INBOX CATENATE (URL ";UID=1/;SECTION=7")
S: e7 NO [BADURL ;UID=1/;SECTION=7] Bad URL: no such section
C: e8 APPEND INBOX CATENATE (URL ";UID=1/;SECTION=BOGUS")
S: e8 NO [BADURL ;UID=1/;SECTION=BOGUS] Bad URL: bad section "BOGUS"
C: e9 APPEND INBOX CATENATE (TEXT {1+}\r\nx URL "/INBOX;UID=1")
S: e9 NO [BADURL /INBOX;UID=1] Bad URL: expected "/" before ";"
C: e10 APPEND INBOX CATENATE (URL "/INBOX/")
S: e10 NO [BADURL /INBOX/] Bad URL: URL names no message
C: e11 APPEND INBOX CATENATE (URL "imap://127.0.0.1/INBOX/;UID=1]")
S: e11 NO [BADURL imap://127.0.0.1/INBOX/;UID=1%5D] Bad URL: bad UID "1]"
C: e12 APPEND Nope CATENATE (URL "imap://mail.example.net/INBOX/;UID=1")
S: e12 NO [TRYCREATE] No such mailbox
C: e13 APPEND INBOX CATENATE (URL ";UID=1" URL ";UID=1")
S: e13 NO [TOOBIG] Message would exceed the limit of 400 bytes
C: e14 APPEND INBOX CATENATE (URL "/INBOX/;UID=1/;PARTIAL=9999")
S: e14 NO [CANNOT] Empty message
C: e15 APPEND INBOX CATENATE (URL ";UID=1" TEXT {3+}\r\nabc) CATENATE (URL ";UID=1;URLAUTH=anonymous")
S~ e15 NO \[BADURL ;UID=1;URLAUTH=anonymous\] Bad URL: .*
C: e16 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 3)
S: e16 OK STATUS completed
`)
	entries, err := os.ReadDir(spool)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "dormouse-catenate-") {
			t.Errorf("spool keeps %s", filepath.Join(spool, e.Name()))
		}
	}
}

// TestCatenateOverQuota: the assembled message counts against the quota
// like any APPEND: NO [OVERQUOTA], nothing appended.
func TestCatenateOverQuota(t *testing.T) {
	srv := startQuota(t, mailstore.QuotaLimits{Storage: 1 << 10})
	c := srv.Login(t, srv.Alice)
	c.Append("INBOX", "Subject: big\r\n\r\n"+strings.Repeat("x", 600)+"\r\n")
	c.MustOK("SELECT INBOX")
	c.Run(`
C: q1 APPEND INBOX CATENATE (URL ";UID=1" URL ";UID=1")
S: q1 NO [OVERQUOTA] Quota exceeded
C: q2 APPEND INBOX CATENATE (URL ";UID=1/;SECTION=TEXT/;PARTIAL=0.100")
S: * 2 EXISTS
S: * 2 RECENT
S~ q2 OK \[APPENDUID \d+ 2\] APPEND completed
`)
}
