package imapserver_test

import (
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

func TestStore(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 3)
	c := selectInbox(t, srv)
	c.Run(`
C: a1 STORE 1 +FLAGS (\Flagged)
S: * 1 FETCH (FLAGS (\Flagged \Recent))
S: a1 OK STORE completed
C: a2 STORE 1:2 FLAGS (\Seen $Work)
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work \*)] Flags permitted
S: * 1 FETCH (FLAGS ($Work \Seen \Recent))
S: * 2 FETCH (FLAGS ($Work \Seen \Recent))
S: a2 OK STORE completed
C: a3 UID STORE 2:3 -FLAGS.SILENT (\Seen)
S: a3 OK UID STORE completed
C: a4 UID STORE 1 +FLAGS (\Answered)
S: * 1 FETCH (UID 1 FLAGS ($Work \Answered \Seen \Recent))
S: a4 OK UID STORE completed
C: a5 FETCH 1:3 FLAGS
S: * 1 FETCH (FLAGS ($Work \Answered \Seen \Recent))
S: * 2 FETCH (FLAGS ($Work \Recent))
S: * 3 FETCH (FLAGS (\Recent))
S: a5 OK FETCH completed
C: a6 NOOP
S: a6 OK NOOP completed
C: a7 STORE 4 +FLAGS (\Seen)
S: a7 BAD Invalid sequence number (mailbox has 3 messages)
`)
}
