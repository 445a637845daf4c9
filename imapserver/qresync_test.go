package imapserver_test

import (
	"regexp"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

func TestQResync(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 5)
	c := srv.Login(t, srv.Alice)
	c.Cmd("a1 ENABLE QRESYNC")
	lines := c.Cmd("a2 SELECT INBOX")
	var uidValidity, highest string
	for _, l := range lines {
		if m := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(l); m != nil {
			uidValidity = m[1]
		}
		if m := regexp.MustCompile(`HIGHESTMODSEQ (\d+)`).FindStringSubmatch(l); m != nil {
			highest = m[1]
		}
	}
	if uidValidity == "" || highest == "" {
		t.Fatalf("SELECT: %q", lines)
	}
	c.Run(`
C: a3 STORE 2 +FLAGS.SILENT (\Seen)
S~ \* 2 FETCH \(MODSEQ \(\d+\)\)
S: a3 OK STORE completed
C: a4 STORE 4 +FLAGS.SILENT (\Deleted)
S~ \* 4 FETCH \(MODSEQ \(\d+\)\)
S: a4 OK STORE completed
C: a5 EXPUNGE
S: * VANISHED 4
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S: a5 OK EXPUNGE completed
C: a6 LOGOUT
S: * BYE Logging out
S: a6 OK LOGOUT completed
`)
	c = srv.Login(t, srv.Alice)
	c.Run(`
C: b1 ENABLE QRESYNC
S: * ENABLED QRESYNC
S: b1 OK ENABLE completed
C: b2 SELECT INBOX (QRESYNC (` + uidValidity + ` ` + highest + ` 1:5))
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S~ \* OK \[PERMANENTFLAGS .*
S: * 4 EXISTS
S: * 0 RECENT
S: * OK [UNSEEN 1] First unseen
S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
S: * OK [UIDNEXT 6] Predicted next UID
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S~ \* OK \[MAILBOXID \(F[0-9a-f]+\)\] Ok
S: * VANISHED (EARLIER) 4
S~ \* 2 FETCH \(UID 2 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)
S: b2 OK [READ-WRITE] SELECT completed
C: b3 UID FETCH 1:* (FLAGS) (CHANGEDSINCE ` + highest + ` VANISHED)
S: * VANISHED (EARLIER) 4
S~ \* 2 FETCH \(UID 2 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)
S: b3 OK UID FETCH completed
C: b4 FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)
S~ b4 BAD .*
`)
}
