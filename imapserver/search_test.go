package imapserver_test

import (
	"fmt"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

func TestSearch(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 5)
	c := selectInbox(t, srv)
	c.Run(`
C: a1 STORE 2,4 +FLAGS.SILENT (\Seen)
S: a1 OK STORE completed
C: a2 SEARCH UNSEEN
S: * SEARCH 1 3 5
S: a2 OK SEARCH completed
C: a3 UID SEARCH SEEN
S: * SEARCH 2 4
S: a3 OK UID SEARCH completed
C: a4 SEARCH SUBJECT "hello 3"
S: * SEARCH 3
S: a4 OK SEARCH completed
C: a5 SEARCH OR BODY "body 1" HEADER Message-ID "<5@"
S: * SEARCH 1 5
S: a5 OK SEARCH completed
C: a6 SEARCH NOT 1:3 ALL
S: * SEARCH 4 5
S: a6 OK SEARCH completed
C: a7 SEARCH CHARSET UTF-8 FROM alice SEEN
S: * SEARCH 2 4
S: a7 OK SEARCH completed
C: a8 SEARCH CHARSET KOI8-R ALL
S: a8 NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset
C: a9 SEARCH SENTON 2-Jan-2006 LARGER 10 SMALLER 100000
S: * SEARCH 1 2 3 4 5
S: a9 OK SEARCH completed
C: b1 SEARCH TEXT nothing-like-this
S: * SEARCH
S: b1 OK SEARCH completed
C: b2 SEARCH SENTON 2-Jan-2006 BODY body
S: * SEARCH 1 2 3 4 5
S: b2 OK SEARCH completed
`)
}

func TestESearchAndSearchRes(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 5)
	c := selectInbox(t, srv)
	c.Run(`
C: a1 SEARCH RETURN (MIN MAX COUNT) 2:4
S: * ESEARCH (TAG "a1") MIN 2 MAX 4 COUNT 3
S: a1 OK SEARCH completed
C: a2 UID SEARCH RETURN () 1,3:5
S: * ESEARCH (TAG "a2") UID ALL 1,3:5
S: a2 OK UID SEARCH completed
C: a3 SEARCH RETURN (COUNT) SEEN
S: * ESEARCH (TAG "a3") COUNT 0
S: a3 OK SEARCH completed
C: a4 SEARCH RETURN (SAVE) 2:3
S: a4 OK SEARCH completed
C: a5 FETCH $ (UID)
S: * 2 FETCH (UID 2)
S: * 3 FETCH (UID 3)
S: a5 OK FETCH completed
C: a6 UID SEARCH RETURN (SAVE MIN) 4:5
S: * ESEARCH (TAG "a6") UID MIN 4
S: a6 OK UID SEARCH completed
C: a7 UID STORE $ +FLAGS (\Flagged)
S: * 4 FETCH (UID 4 FLAGS (\Flagged \Recent))
S: a7 OK UID STORE completed
C: a8 SEARCH $ FLAGGED
S: * SEARCH 4
S: a8 OK SEARCH completed
C: a9 ENABLE IMAP4rev2
S: a9 BAD ENABLE not allowed now
C: b1 UNSELECT
S: b1 OK UNSELECT completed
C: b2 ENABLE IMAP4rev2
S: * ENABLED IMAP4rev2
S: b2 OK ENABLE completed
C: b3 EXAMINE INBOX
S~ (?s).*
S~ .*
S: * 5 EXISTS
S~ .*
S~ .*
S~ .*
S~ .*
S~ .*
S: b3 OK [READ-ONLY] EXAMINE completed
C: b4 SEARCH FLAGGED
S: * ESEARCH (TAG "b4") ALL 4
S: b4 OK SEARCH completed
C: b5 UID SEARCH DRAFT
S: * ESEARCH (TAG "b5") UID
S: b5 OK UID SEARCH completed
`)
}

// TestSearchBeyondMailbox: a sequence set in a SEARCH key that reaches
// past the mailbox matches the messages that exist and no others, as
// Dovecot and Cyrus answer; FETCH and STORE still refuse such a set.
func TestSearchBeyondMailbox(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 3)
	c := selectInbox(t, srv)
	c.Run(`
C: a1 SEARCH 2:10
S: * SEARCH 2 3
S: a1 OK SEARCH completed
C: a2 SEARCH 5:7
S: * SEARCH
S: a2 OK SEARCH completed
C: a3 SEARCH OR 9 1
S: * SEARCH 1
S: a3 OK SEARCH completed
C: a4 SEARCH RETURN (COUNT) NOT 4:*
# 4:* is 3:4 in a mailbox of 3: NOT leaves 1 and 2
S: * ESEARCH (TAG "a4") COUNT 2
S: a4 OK SEARCH completed
C: a5 FETCH 5 FLAGS
S: a5 BAD Invalid sequence number (mailbox has 3 messages)
`)
}

// TestSentDateFallsBackToInternalDate: a message without a usable Date:
// header is searched by its INTERNALDATE for SENTBEFORE, SENTON and
// SENTSINCE, as Dovecot does, instead of matching none of them.
func TestSentDateFallsBackToInternalDate(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	msg := "From: a@example.org\r\nSubject: no date\r\n\r\nbody\r\n"
	c.Write(fmt.Sprintf("a1 APPEND INBOX \"01-Feb-2020 10:00:00 +0000\" {%d+}\r\n%s\r\n", len(msg), msg))
	c.Expect("S~ a1 OK .*")
	c.MustOK("SELECT INBOX")
	c.Run(`
C: a3 SEARCH SENTON 1-Feb-2020
S: * SEARCH 1
S: a3 OK SEARCH completed
C: a4 SEARCH SENTBEFORE 1-Feb-2020
S: * SEARCH
S: a4 OK SEARCH completed
C: a5 SEARCH SENTSINCE 1-Jan-2020
S: * SEARCH 1
S: a5 OK SEARCH completed
`)
}
