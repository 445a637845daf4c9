package imapserver_test

import (
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

func TestCopyMove(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 5)
	fill(t, srv, "Archive", 2)
	c := selectInbox(t, srv)
	c.Run(`
C: a1 COPY 2:3 Archive
S~ a1 OK \[COPYUID \d+ 2:3 3:4\] COPY completed
C: a2 UID COPY 5,1 Archive
S~ a2 OK \[COPYUID \d+ 1,5 5:6\] COPY completed
C: a3 COPY 1 Nope
S: a3 NO [TRYCREATE] No such mailbox
C: a4 MOVE 2:3 Trash
S~ \* OK \[COPYUID \d+ 2:3 1:2\] Moved
S: * 3 EXPUNGE
S: * 2 EXPUNGE
S: a4 OK MOVE completed
C: a5 UID MOVE 4:5 Archive
S~ \* OK \[COPYUID \d+ 4:5 7:8\] Moved
S: * 3 EXPUNGE
S: * 2 EXPUNGE
S: a5 OK UID MOVE completed
C: a6 FETCH 1:* UID
S: * 1 FETCH (UID 1)
S: a6 OK FETCH completed
C: a7 UID MOVE 100:200 Archive
S: a7 OK UID MOVE completed
C: a8 STATUS Archive (MESSAGES UIDNEXT)
S: * STATUS Archive (MESSAGES 8 UIDNEXT 9)
S: a8 OK STATUS completed
`)
}

func TestExpunge(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 5)
	c := selectInbox(t, srv)
	c.Run(`
C: a1 STORE 1,3,5 +FLAGS.SILENT (\Deleted)
S: a1 OK STORE completed
C: a2 UID EXPUNGE 4:5
S: * 5 EXPUNGE
S: a2 OK UID EXPUNGE completed
C: a3 EXPUNGE
S: * 3 EXPUNGE
S: * 1 EXPUNGE
S: a3 OK EXPUNGE completed
C: a4 UID SEARCH ALL
S: * SEARCH 2 4
S: a4 OK UID SEARCH completed
C: a5 EXAMINE INBOX
S: * OK [CLOSED] Previous mailbox closed
S~ (?s).*
S~ .*
S: * 2 EXISTS
S~ .*
S~ .*
S~ .*
S~ .*
S~ .*
S~ .*
S: a5 OK [READ-ONLY] EXAMINE completed
C: a6 EXPUNGE
S: a6 NO [CANNOT] Mailbox is read-only
`)
}
