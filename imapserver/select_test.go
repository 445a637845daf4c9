package imapserver_test

import (
	"slices"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

func TestSelectExamine(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 2)
	c := srv.Login(t, srv.Alice)
	c.Run(`
C: a1 EXAMINE INBOX
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS ()] Flags permitted
S: * 2 EXISTS
S: * 2 RECENT
S: * OK [UNSEEN 1] First unseen
S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
S: * OK [UIDNEXT 3] Predicted next UID
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S~ \* OK \[MAILBOXID \(F[0-9a-f]+\)\] Ok
S: a1 OK [READ-ONLY] EXAMINE completed
C: a2 STORE 1 +FLAGS (\Seen)
S: a2 NO [CANNOT] Mailbox is read-only
C: a3 SELECT inbox
S: * OK [CLOSED] Previous mailbox closed
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted
S: * 2 EXISTS
S: * 2 RECENT
S: * OK [UNSEEN 1] First unseen
S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
S: * OK [UIDNEXT 3] Predicted next UID
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S~ \* OK \[MAILBOXID \(F[0-9a-f]+\)\] Ok
S: a3 OK [READ-WRITE] SELECT completed
C: a4 SELECT Nope
S: * OK [CLOSED] Previous mailbox closed
S: a4 NO [NONEXISTENT] No such mailbox
C: a5 FETCH 1 FLAGS
S: a5 BAD FETCH not allowed: no mailbox selected
C: a6 SELECT INBOX
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted
S: * 2 EXISTS
S: * 0 RECENT
S: * OK [UNSEEN 1] First unseen
S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
S: * OK [UIDNEXT 3] Predicted next UID
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S~ \* OK \[MAILBOXID \(F[0-9a-f]+\)\] Ok
S: a6 OK [READ-WRITE] SELECT completed
C: a7 STORE 1 +FLAGS.SILENT (\Deleted)
S: a7 OK STORE completed
C: a8 UNSELECT
S: a8 OK UNSELECT completed
C: a9 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 2)
S: a9 OK STATUS completed
C: b1 SELECT INBOX
S~ (?s).*
S~ .*
S: * 2 EXISTS
S~ .*
S~ .*
S~ .*
S~ .*
S~ .*
S~ .*
S: b1 OK [READ-WRITE] SELECT completed
C: b2 CLOSE
S: b2 OK CLOSE completed
C: b3 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 1)
S: b3 OK STATUS completed
C: b4 CLOSE
S: b4 BAD CLOSE not allowed: no mailbox selected
`)
}

// TestExamineLeavesRecent: EXAMINE reports the recent messages without
// claiming them, so a session that selects the mailbox afterwards still
// gets them (RFC 3501 6.3.2).
func TestExamineLeavesRecent(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 2)
	for _, cmd := range []string{"EXAMINE", "EXAMINE", "SELECT"} {
		c := srv.Login(t, srv.Alice)
		c.Send("x " + cmd + " INBOX")
		if lines := c.ReadUntilTagged("x"); !slices.Contains(lines, "* 2 RECENT") {
			t.Fatalf("%s of 2 recent messages: %q, want * 2 RECENT", cmd, lines)
		}
	}
}
