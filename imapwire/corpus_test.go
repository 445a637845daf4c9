package imapwire

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// corpusSeeds are the committed seeds of FuzzReadCommand, written to
// testdata/fuzz/FuzzReadCommand by TestWriteCorpus.
var corpusSeeds = []struct {
	name string
	in   string
	utf8 bool
}{
	{"login", "a1 LOGIN joe secret\r\n", false},
	{"login-literals", "a1 LOGIN {3}\r\njoe {6+}\r\nsecret\r\n", false},
	{"login-quoted-escapes", "a1 LOGIN \"j\\\"oe\" \"se\\\\cret\"\r\n", false},
	{"authenticate-ir", "a AUTHENTICATE PLAIN AGpvZQBzZWNyZXQ=\r\nb AUTHENTICATE EXTERNAL =\r\n", false},
	{"pipeline", "a CAPABILITY\r\nb NOOP\r\nc LOGOUT\r\nd STARTTLS\r\n", false},
	{"enable-id", "a ENABLE QRESYNC UTF8=ACCEPT\r\nb ID (\"name\" \"x\" \"os\" NIL)\r\nc ID NIL\r\n", false},
	{"select-qresync", "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:5 41:45)) CONDSTORE)\r\n", false},
	{"examine-mutf7", "a EXAMINE &ZeVnLIqe-/Entw&APw-rfe\r\n", false},
	{"select-utf8", "a SELECT \"Entwürfe\"\r\n", true},
	{"create-use", "a CREATE Archive (USE (\\Archive \\All))\r\n", false},
	{"rename-delete-sub", "a RENAME a b\r\nb DELETE c\r\nc SUBSCRIBE d\r\nd UNSUBSCRIBE \"e f\"\r\n", false},
	{"list-extended", "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"Sent*\" %/x) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN SIZE))\r\n", false},
	{"list-lsub", "a LIST \"\" *\r\nb LSUB \"#news.\" comp.%\r\n", false},
	{"status", "a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ)\r\n", false},
	{"append", "a APPEND INBOX (\\Seen $Forwarded) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\nhello\r\n", false},
	{"multiappend-binary", "a APPEND INBOX ~{3+}\r\na\x00b (\\Draft) \"17-Jul-1996 02:44:25 +0200\" {2+}\r\nhi {0+}\r\n\r\n", false},
	{"append-toobig", "a APPEND INBOX {4294967296}\r\nb NOOP\r\n", false},
	{"append-nonsync-toobig", "a APPEND INBOX {5000+}\r\n", false},
	{"fetch-simple", "a UID FETCH 1:* (FLAGS)\r\nb FETCH 1 ALL\r\nc FETCH 2 FULL\r\nd FETCH 3 FAST\r\n", false},
	{"fetch-sections", "a UID FETCH 4:7 (BODY.PEEK[HEADER.FIELDS (From To Subject)] BODY[] BODY[1.2.MIME] BODY[TEXT]<0.2048> BODY[3.HEADER.FIELDS.NOT (X)])\r\n", false},
	{"fetch-binary", "a FETCH 1 (BINARY[] BINARY.PEEK[1.2]<0.100> BINARY.SIZE[3] MODSEQ SAVEDATE EMAILID THREADID)\r\n", false},
	{"fetch-changedsince", "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n", false},
	{"store", "a STORE 1:3 +FLAGS (\\Seen)\r\nb UID STORE 7 -FLAGS.SILENT \\Deleted\r\nc STORE 2 (UNCHANGEDSINCE 5) FLAGS ()\r\n", false},
	{"copy-move", "a COPY 2:4 MEETING\r\nb UID MOVE 1,3:* Trash\r\nc MOVE $ Archive\r\n", false},
	{"expunge", "a EXPUNGE\r\nb UID EXPUNGE 3:5\r\nc CLOSE\r\nd UNSELECT\r\ne CHECK\r\n", false},
	{"search-basic", "a SEARCH UNSEEN FROM \"Smith\" SINCE 1-Feb-1994 NOT DELETED\r\n", false},
	{"search-esearch", "a UID SEARCH RETURN (MIN MAX COUNT ALL SAVE) CHARSET UTF-8 OR (SEEN FLAGGED) (HEADER X-Foo bar LARGER 100) 1:5,* UID $\r\n", false},
	{"search-literal", "a SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX\r\n", false},
	{"search-modseq", "a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338 OLDER 3600 YOUNGER 60 SAVEDBEFORE 1-Jan-2020 SAVEDATESUPPORTED\r\n", false},
	{"idle-done", "a IDLE\r\nDONE\r\nb NAMESPACE\r\n", false},
	{"bad-tags", "a+b NOOP\r\n* NOOP\r\n(a NOOP\r\nx NOOP\r\n", false},
	{"bad-seqsets", "a FETCH 0 FLAGS\r\nb FETCH 1: FLAGS\r\nc FETCH 1,,2 FLAGS\r\nd FETCH a FLAGS\r\n", false},
	{"nul-cr", "a LOGIN a\x00 b\r\nb NOOP\rc\r\nd NOOP\r\n", false},
	{"bad-mutf7", "a SELECT &Jjo\r\nb SELECT &AGE-\r\nc SELECT &AOk-&AOk-\r\n", false},
	{"deep-search", "a SEARCH NOT NOT NOT NOT (((OR SEEN (NOT DELETED) UID 1:*)))\r\n", false},
	{"empty-lines", "\r\n\r\na NOOP\r\n\n", false},
}

// TestWriteCorpus regenerates the seed corpus files; it runs only with
// IMAPWIRE_WRITE_CORPUS=1 so that tests never write to the tree.
func TestWriteCorpus(t *testing.T) {
	if os.Getenv("IMAPWIRE_WRITE_CORPUS") == "" {
		t.Skip("set IMAPWIRE_WRITE_CORPUS=1 to write testdata/fuzz/FuzzReadCommand")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReadCommand")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range corpusSeeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(%v)\n", s.in, s.utf8)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
