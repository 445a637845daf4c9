package imapserver_test

import (
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestPartial: RFC 9394. SEARCH RETURN (PARTIAL) pages the result from
// the first or (negative) the last, repeats the range as sent, answers
// NIL past the end (3.1); MIN, MAX and COUNT stay of the whole result;
// SAVE keeps what 3.2 says; one PARTIAL or one ALL (3.1); UID FETCH's
// PARTIAL modifier (3.3), after CHANGEDSINCE; SORT pages in sort order.
func TestPartial(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 10)
	c := selectInbox(t, srv)
	if caps := c.Cmd("c CAPABILITY")[0]; !strings.Contains(caps, " PARTIAL") {
		t.Fatalf("PARTIAL not advertised: %s", caps)
	}
	c.Run(`
C: a0 STORE 2,4,6 +FLAGS.SILENT (\Deleted)
S~ a0 OK .*
C: a1 UID SEARCH RETURN (PARTIAL 1:3) UNDELETED
S: * ESEARCH (TAG "a1") UID PARTIAL (1:3 1,3,5)
S~ a1 OK .*
C: a2 UID SEARCH RETURN (PARTIAL -1:-2) UNDELETED
S: * ESEARCH (TAG "a2") UID PARTIAL (-1:-2 9:10)
S~ a2 OK .*
C: a3 SEARCH RETURN (PARTIAL 6:4 COUNT MIN MAX) UNDELETED
S: * ESEARCH (TAG "a3") MIN 1 MAX 10 PARTIAL (6:4 7:9) COUNT 7
S~ a3 OK .*
C: a4 SEARCH RETURN (PARTIAL 5:100) UNDELETED
S: * ESEARCH (TAG "a4") PARTIAL (5:100 8:10)
S~ a4 OK .*
C: a5 SEARCH RETURN (PARTIAL 8:100) UNDELETED
S: * ESEARCH (TAG "a5") PARTIAL (8:100 NIL)
S~ a5 OK .*
C: a6 SEARCH RETURN (PARTIAL -8:-20) UNDELETED
S: * ESEARCH (TAG "a6") PARTIAL (-8:-20 NIL)
S~ a6 OK .*
C: a7 SEARCH RETURN (PARTIAL 1:2) DELETED KEYWORD nothing
S: * ESEARCH (TAG "a7") PARTIAL (1:2 NIL)
S~ a7 OK .*
C: b1 SEARCH RETURN (PARTIAL 1:5 ALL) ALL
S~ b1 BAD .*
C: b2 SEARCH RETURN (PARTIAL 1:5 PARTIAL 6:9) ALL
S~ b2 BAD .*
C: b3 SEARCH RETURN (PARTIAL 0:5) ALL
S~ b3 BAD .*
C: b4 SEARCH RETURN (PARTIAL 1:*) ALL
S~ b4 BAD .*
C: b5 SEARCH RETURN (PARTIAL -1:5) ALL
S~ b5 BAD .*
C: b6 SEARCH RETURN (PARTIAL) ALL
S~ b6 BAD .*
C: b7 SEARCH RETURN (ALL ALL) ALL
S~ b7 BAD .*
C: s1 SEARCH RETURN (SAVE PARTIAL 2:3) UNDELETED
S: * ESEARCH (TAG "s1") PARTIAL (2:3 3,5)
S~ s1 OK .*
C: s2 UID SEARCH UID $
S: * SEARCH 3 5
S~ s2 OK .*
C: s3 SEARCH RETURN (SAVE MAX PARTIAL 1:1) UNDELETED
S: * ESEARCH (TAG "s3") MAX 10 PARTIAL (1:1 1)
S~ s3 OK .*
C: s4 UID SEARCH UID $
S: * SEARCH 1 10
S~ s4 OK .*
C: s5 SEARCH RETURN (SAVE COUNT PARTIAL 1:1) UNDELETED
S: * ESEARCH (TAG "s5") PARTIAL (1:1 1) COUNT 7
S~ s5 OK .*
C: s6 UID SEARCH UID $
S: * SEARCH 1 3 5 7 8 9 10
S~ s6 OK .*
C: f1 UID FETCH 1:* (FLAGS) (PARTIAL -1:-2)
S: * 9 FETCH (UID 9 FLAGS (\Recent))
S: * 10 FETCH (UID 10 FLAGS (\Recent))
S~ f1 OK .*
C: f2 UID FETCH 3:8 UID (PARTIAL 2:3)
S: * 4 FETCH (UID 4)
S: * 5 FETCH (UID 5)
S~ f2 OK .*
C: f5 FETCH 1:* UID (PARTIAL 1:2)
S~ f5 BAD .*
C: f7 UID FETCH 1:* UID (PARTIAL 200:300)
S~ f7 OK .*
C: o1 SORT RETURN (PARTIAL 1:3) (REVERSE ARRIVAL) US-ASCII UNDELETED
S: * ESEARCH (TAG "o1") PARTIAL (1:3 10,9,8)
S~ o1 OK .*
`)
	// PARTIAL counts the messages CHANGEDSINCE leaves (3.4): of 1:*,
	// only 7 and 8 changed, so 1:2 is them, not UIDs 1 and 2.
	ms := grab(t, c.Cmd("m1 STATUS INBOX (HIGHESTMODSEQ)"), `HIGHESTMODSEQ (\d+)`)
	c.Cmd("m2 STORE 7:8 +FLAGS.SILENT (\\Flagged)")
	c.Run(`
C: f4 UID FETCH 1:* UID (CHANGEDSINCE ` + ms + ` PARTIAL 1:2)
S~ \* 7 FETCH \(UID 7 MODSEQ \(\d+\)\)
S~ \* 8 FETCH \(UID 8 MODSEQ \(\d+\)\)
S~ f4 OK .*
C: f6 UID FETCH 1:* UID (PARTIAL -1:-1 CHANGEDSINCE ` + ms + `)
S~ \* 8 FETCH \(UID 8 MODSEQ \(\d+\)\)
S~ f6 OK .*
`)
}
