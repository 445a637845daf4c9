package imapserver_test

import (
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestUpdatesFromOtherSession checks when another session's changes reach
// a client: after NOOP and most commands, but EXPUNGE never after FETCH,
// STORE or SEARCH by sequence number (RFC 9051 7.5.1).
func TestUpdatesFromOtherSession(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 3)
	a := selectInbox(t, srv)
	b := selectInbox(t, srv)

	b.Run(`
C: b1 STORE 2 +FLAGS (\Flagged)
S: * 2 FETCH (FLAGS (\Flagged))
S: b1 OK STORE completed
`)
	a.Run(`
C: a1 NOOP
S: * 2 FETCH (UID 2 FLAGS (\Flagged \Recent))
S: a1 OK NOOP completed
`)
	appendMsg(t, b, "INBOX", `\Draft`, testMessage(4))
	a.Run(`
C: a2 CHECK
S: * 4 EXISTS
S: * 3 RECENT
S: a2 OK CHECK completed
`)
	b.Run(`
C: b2 STORE 1 +FLAGS.SILENT (\Deleted)
S: b2 OK STORE completed
C: b3 EXPUNGE
S: * 1 EXPUNGE
S: b3 OK EXPUNGE completed
`)
	// Sequence numbers stay those A knows: message 1 is still there for
	// FETCH, STORE and SEARCH, and no EXPUNGE is sent after them; its new
	// flags are told first, once (as Dovecot does, and as a session woken
	// from hibernation must: TestRestoredViewTellsFlags). A UID command
	// first brings the view up to date, expunges included, and answers
	// from it.
	a.Run(`
C: a3 FETCH 1 (UID)
S: * 1 FETCH (UID 1 FLAGS (\Deleted \Recent))
S: * 1 FETCH (UID 1)
S: a3 OK FETCH completed
C: a4 STORE 4 +FLAGS (\Seen)
S: * 4 FETCH (FLAGS (\Draft \Seen))
S: a4 OK STORE completed
C: a5 SEARCH ALL
S: * SEARCH 1 2 3 4
S: a5 OK SEARCH completed
C: a6 UID SEARCH ALL
S: * 1 EXPUNGE
S: * SEARCH 2 3 4
S: a6 OK UID SEARCH completed
C: a7 FETCH 3 (UID FLAGS)
S: * 3 FETCH (UID 4 FLAGS (\Draft \Seen))
S: a7 OK FETCH completed
`)
	// B hears A's STORE once, with the flags B has not seen.
	b.Run(`
C: b4 NOOP
S: * 3 FETCH (UID 4 FLAGS (\Draft \Seen \Recent))
S: b4 OK NOOP completed
C: b5 NOOP
S: b5 OK NOOP completed
`)
}

// TestNoUpdatesWithoutCommand checks that nothing is sent to a client that
// is not running a command (RFC 9051 7: untagged responses come with a
// command, or during IDLE).
func TestNoUpdatesWithoutCommand(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 1)
	a := selectInbox(t, srv)
	b := srv.Login(t, srv.Alice)
	appendMsg(t, b, "INBOX", "", testMessage(2))
	a.ExpectNothing(100 * time.Millisecond)
	a.Run(`
C: a1 NOOP
S: * 2 EXISTS
S: * 2 RECENT
S: a1 OK NOOP completed
`)
}

// TestFetchExpungedElsewhere checks FETCH of a message another session
// expunged: the client still has its sequence number (and is told of the
// \Deleted flag set before the expunge), the data that needs the file is
// gone and NIL, as Dovecot answers (RFC 2180 4.1.1, RFC 5530
// EXPUNGEISSUED; more in TestExpungedElsewhereStillSeen).
func TestFetchExpungedElsewhere(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 2)
	a := selectInbox(t, srv)
	b := selectInbox(t, srv)
	b.Cmd(`b1 STORE 1 +FLAGS.SILENT (\Deleted)`)
	b.Cmd(`b2 EXPUNGE`)
	a.Run(`
C: a1 FETCH 1:2 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])
S: * 1 FETCH (UID 1 FLAGS (\Deleted \Recent))
S: * 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] NIL)
S: * 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {20}\r\nSubject: Hello 2\r\n\r\n)
S: a1 OK [EXPUNGEISSUED] Some messages were expunged meanwhile
C: a2 NOOP
S: * 1 EXPUNGE
S: a2 OK NOOP completed
`)
}

// TestEnvelopeExpungedElsewhere is TestFetchExpungedElsewhere for the
// commands answered from the store's envelope cache: FETCH ENVELOPE and a
// header search still answer for the messages that are gone, the one
// whose envelope was kept before and the one kept when it was expunged,
// until the session is told of the expunge.
func TestEnvelopeExpungedElsewhere(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 3)
	a := selectInbox(t, srv)
	b := selectInbox(t, srv)
	a.Run(`
C: a1 FETCH 3 (ENVELOPE)
S: * 3 FETCH (ENVELOPE ("Mon, 02 Jan 2006 15:04:05 -0700" "Hello 3" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<3@example.org>"))
S: a1 OK FETCH completed
`)
	b.Cmd(`b1 STORE 1,3 +FLAGS.SILENT (\Deleted)`)
	b.Cmd(`b2 EXPUNGE`)
	a.Run(`
C: a2 FETCH 1:3 (UID ENVELOPE)
S: * 1 FETCH (UID 1 FLAGS (\Deleted \Recent))
S: * 3 FETCH (UID 3 FLAGS (\Deleted \Recent))
S: * 1 FETCH (UID 1 ENVELOPE ("Mon, 02 Jan 2006 15:04:05 -0700" "Hello 1" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<1@example.org>"))
S: * 2 FETCH (UID 2 ENVELOPE ("Mon, 02 Jan 2006 15:04:05 -0700" "Hello 2" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<2@example.org>"))
S: * 3 FETCH (UID 3 ENVELOPE ("Mon, 02 Jan 2006 15:04:05 -0700" "Hello 3" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<3@example.org>"))
S: a2 OK FETCH completed
C: a3 SEARCH SUBJECT hello
S: * SEARCH 1 2 3
S: a3 OK SEARCH completed
C: a4 NOOP
S: * 3 EXPUNGE
S: * 1 EXPUNGE
S: a4 OK NOOP completed
`)
}

// TestSelectedMailboxDeleted checks that a session whose selected mailbox
// another session deleted is told so and disconnected, as Dovecot does:
// there is no way to tell an IMAP4rev1 client its mailbox is gone.
func TestSelectedMailboxDeleted(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "Sent", 1)
	a := srv.Login(t, srv.Alice)
	a.Cmd("a1 SELECT Sent")
	b := srv.Login(t, srv.Alice)
	b.Cmd("b1 DELETE Sent")
	a.Send("a2 NOOP")
	if got := a.ExpectClosed(); len(got) != 1 || got[0] != "* BYE Selected mailbox was deleted, have to disconnect" {
		t.Fatalf("got %q", got)
	}
}
