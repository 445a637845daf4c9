package imapserver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestPreview: RFC 8970 FETCH PREVIEW and PREVIEW (LAZY): the first text
// part decoded (quoted-printable, Latin-1), else the HTML part's text,
// NIL without text; no \Seen set; non-ASCII text as a literal until
// UTF-8 is enabled.
func TestPreview(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	appendMsg(t, c, "INBOX", "", crlf("Subject: plain\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9   au\n\n  lait\n"))
	appendMsg(t, c, "INBOX", "", crlf("Subject: html\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>Hello <b>world</b></p>\n--b--\n"))
	appendMsg(t, c, "INBOX", "", crlf("Subject: image\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n"))
	if caps := c.Cmd("c CAPABILITY")[0]; !strings.Contains(caps, " PREVIEW") {
		t.Fatalf("PREVIEW not advertised: %s", caps)
	}
	c.Cmd("s SELECT INBOX")
	c.Run(`
C: f1 FETCH 2:3 PREVIEW
S: * 2 FETCH (PREVIEW "Hello world")
S: * 3 FETCH (PREVIEW NIL)
S~ f1 OK .*
C: f2 FETCH 1 (PREVIEW (LAZY) FLAGS)
S: * 1 FETCH (PREVIEW {13}\r\nCafé au lait FLAGS (\Recent))
S~ f2 OK .*
C: f3 FETCH 2 PREVIEW (CHANGEDSINCE 1)
S: * OK [HIGHESTMODSEQ 4] Highest
S: * 2 FETCH (PREVIEW "Hello world" MODSEQ (3))
S~ f3 OK .*
C: f4 FETCH 1 PREVIEW (FAST)
S~ f4 BAD .*
C: f6 FETCH 1:3 FLAGS
S: * 1 FETCH (FLAGS (\Recent))
S: * 2 FETCH (FLAGS (\Recent))
S: * 3 FETCH (FLAGS (\Recent))
S~ f6 OK .*
`)
	c2 := srv.Login(t, srv.Alice)
	c2.Run(`
C: e ENABLE UTF8=ACCEPT
S: * ENABLED UTF8=ACCEPT
S~ e OK .*
`)
	c2.Cmd("s EXAMINE INBOX")
	c2.Run(`
C: f5 UID FETCH 1 PREVIEW
S: * 1 FETCH (UID 1 PREVIEW "Café au lait")
S~ f5 OK .*
`)
}

// TestPreviewKept: a preview is computed once and kept in the index: a
// FETCH PREVIEW after the message file was changed behind the server's
// back (which never happens to a Maildir message) still answers the
// first preview, which the file no longer holds.
func TestPreviewKept(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	appendMsg(t, c, "INBOX", "", "Subject: x\r\n\r\nfirst text\r\n")
	c.Cmd("s EXAMINE INBOX")
	c.Run(`
C: f1 FETCH 1 PREVIEW
S: * 1 FETCH (PREVIEW "first text")
S~ f1 OK .*
`)
	files, err := filepath.Glob(filepath.Join(srv.DataDir, "users", "alice", "Maildir", "cur", "*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("message files: %v %v", files, err)
	}
	if err := os.WriteFile(files[0], []byte("Subject: x\r\n\r\nother text\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Run(`
C: f2 FETCH 1 (PREVIEW (LAZY) BODY.PEEK[TEXT])
S: * 1 FETCH (PREVIEW "first text" BODY[TEXT] {12}\r\nother text\r\n)
S~ f2 OK .*
`)
}
