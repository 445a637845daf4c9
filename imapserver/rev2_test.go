package imapserver_test

import (
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestIMAP4rev2Differences runs the same commands as an IMAP4rev1 and an
// IMAP4rev2 client and checks the differences of RFC 9051 Appendix E: no
// RECENT, no \Recent, no [UNSEEN] on SELECT, a LIST reply on SELECT, SEARCH
// answered by ESEARCH, UTF-8 mailbox names.
func TestIMAP4rev2Differences(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 2)
	rev1 := srv.Login(t, srv.Alice)
	rev1.Run(`
C: a1 CREATE "&ZeVnLIqe-"
S~ a1 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: a2 SELECT INBOX
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted
S: * 2 EXISTS
S: * 2 RECENT
S: * OK [UNSEEN 1] First unseen
S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
S: * OK [UIDNEXT 3] Predicted next UID
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S~ \* OK \[MAILBOXID \(F[0-9a-f]+\)\] Ok
S: a2 OK [READ-WRITE] SELECT completed
C: a3 SEARCH ALL
S: * SEARCH 1 2
S: a3 OK SEARCH completed
C: a4 FETCH 1 FLAGS
S: * 1 FETCH (FLAGS (\Recent))
S: a4 OK FETCH completed
C: a5 LIST "" "&ZeVnLIqe-"
S: * LIST (\HasNoChildren) "/" &ZeVnLIqe-
S: a5 OK LIST completed
`)
	rev2 := srv.Login(t, srv.Alice)
	rev2.Run(`
C: b0 ENABLE IMAP4rev2
S: * ENABLED IMAP4rev2
S: b0 OK ENABLE completed
C: b1 SELECT INBOX
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted
S: * 2 EXISTS
S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
S: * OK [UIDNEXT 3] Predicted next UID
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S~ \* OK \[MAILBOXID \(F[0-9a-f]+\)\] Ok
S: * LIST () "/" INBOX
S: b1 OK [READ-WRITE] SELECT completed
C: b2 SEARCH ALL
S: * ESEARCH (TAG "b2") ALL 1:2
S: b2 OK SEARCH completed
C: b3 FETCH 1 FLAGS
S: * 1 FETCH (FLAGS ())
S: b3 OK FETCH completed
C: b4 LIST "" "日本語"
S: * LIST (\HasNoChildren) "/" "日本語"
S: b4 OK LIST completed
`)
}
