package imapserver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestExpungedElsewhereStillSeen: session a has three messages selected,
// session b moves message 2 away (an expunge in INBOX), and a, before any
// command that may announce the EXPUNGE (RFC 9051 7.5.1), still sees
// message 2 as it was: SEARCH by header, sent date, flags and size
// finds it, FETCH answers its UID, FLAGS, RFC822.SIZE, INTERNALDATE and
// ENVELOPE (the store kept them; a never asked for the envelope before),
// and only BODY[], whose file is gone, is NIL with OK [EXPUNGEISSUED], as
// Dovecot answers. A stress client found message 2 missing from SEARCH and FETCH
// ENVELOPE answering nothing. The same transcript holds for a session
// that hibernated in IDLE, ended it asleep, and is woken by the SEARCH
// (its view is rebuilt from the UIDs it knows).
func TestExpungedElsewhereStillSeen(t *testing.T) {
	for _, mode := range wakeModes {
		t.Run(mode.name, func(t *testing.T) {
			srv := startMode(t, mode.asleep)
			fill(t, srv, "INBOX", 3)
			a := srv.Login(t, srv.Alice)
			a.Run(`
C: a0 ENABLE IMAP4rev2
S: * ENABLED IMAP4rev2
S: a0 OK ENABLE completed
`)
			a.Cmd("a1 SELECT INBOX")
			var slept time.Time
			if mode.asleep {
				slept = sleepBetweenCommands(t, srv, a)
			}
			b := selectInbox(t, srv)
			b.Run(`
C: b1 MOVE 2 Trash
S~ \* OK \[COPYUID \d+ 2 1\] .*
S: * 2 EXPUNGE
S: b1 OK MOVE completed
`)
			if mode.asleep {
				checkSameSleep(t, srv, a, slept, "before the SEARCH")
			}
			size := len(testMessage(2))
			a.Run(fmt.Sprintf(`
C: a2 SEARCH SENTBEFORE 17-Nov-2023
S: * ESEARCH (TAG "a2") ALL 1:3
S: a2 OK SEARCH completed
C: a3 SEARCH SUBJECT "hello 2"
S: * ESEARCH (TAG "a3") ALL 2
S: a3 OK SEARCH completed
C: a4 SEARCH UNSEEN LARGER %d SMALLER %d SINCE 1-Jan-2020
S: * ESEARCH (TAG "a4") ALL 1:3
S: a4 OK SEARCH completed
C: a5 FETCH 2 (UID FLAGS RFC822.SIZE ENVELOPE)
S: * 2 FETCH (UID 2 FLAGS () RFC822.SIZE %d ENVELOPE ("Mon, 02 Jan 2006 15:04:05 -0700" "Hello 2" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<2@example.org>"))
S: a5 OK FETCH completed
C: a6 FETCH 2 (INTERNALDATE)
S~ \* 2 FETCH \(INTERNALDATE "[^"]+"\)
S: a6 OK FETCH completed
C: a7 FETCH 2:3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])
S: * 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] NIL)
S: * 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {20}\r\nSubject: Hello 3\r\n\r\n)
S: a7 OK [EXPUNGEISSUED] Some messages were expunged meanwhile
C: a8 FETCH 2 (UID BODY.PEEK[] BODYSTRUCTURE)
S: * 2 FETCH (UID 2 BODY[] NIL BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit" 0 0 NIL NIL NIL NIL))
S: a8 OK [EXPUNGEISSUED] Some messages were expunged meanwhile
C: a9 NOOP
S: * 2 EXPUNGE
S: a9 OK NOOP completed
C: a10 SEARCH SUBJECT hello
S: * ESEARCH (TAG "a10") ALL 1:2
S: a10 OK SEARCH completed
`, size-1, size+1, size))
		})
	}
}

// TestRestoredViewTellsFlags: another session flags message 1 and
// flags and expunges message 2, then a SEARCH by sequence number comes,
// which may not apply the changes (RFC 9051 7.5.1). The session tells
// the flags of both first, so that the SEARCH's answer agrees with what
// the client knows; the NOOP after reports the expunge and does not
// repeat the flags. The transcript is the same for a session that stayed
// awake and for one asleep between commands, woken by the SEARCH, whose
// view is rebuilt with the messages' new records. Before, the woken
// session told these flags and the awake one did not (its SEARCH
// answered from flags the client had been told: "* SEARCH" without 1
// and 2); and before that, the woken session's answer counted flags the
// client had never heard of (found by bench/torture's SEARCH check).
func TestRestoredViewTellsFlags(t *testing.T) {
	for _, mode := range wakeModes {
		t.Run(mode.name, func(t *testing.T) {
			srv := startMode(t, mode.asleep)
			fill(t, srv, "INBOX", 3)
			a := srv.Login(t, srv.Alice)
			a.Cmd("a1 SELECT INBOX")
			var slept time.Time
			if mode.asleep {
				slept = sleepBetweenCommands(t, srv, a)
			}
			b := selectInbox(t, srv)
			b.Cmd(`b1 STORE 1 +FLAGS.SILENT (\Flagged)`)
			b.Cmd(`b2 STORE 2 +FLAGS.SILENT (\Flagged \Deleted)`)
			b.Cmd(`b3 EXPUNGE`)
			if mode.asleep {
				checkSameSleep(t, srv, a, slept, "before the SEARCH")
			}
			// The store publishes its events before b's commands return,
			// so a's session has the change pending before its SEARCH.
			a.Run(`
C: a2 SEARCH FLAGGED
S: * 1 FETCH (UID 1 FLAGS (\Flagged \Recent))
S: * 2 FETCH (UID 2 FLAGS (\Deleted \Flagged \Recent))
S: * SEARCH 1 2
S: a2 OK SEARCH completed
C: a3 FETCH 1:3 FLAGS
S: * 1 FETCH (FLAGS (\Flagged \Recent))
S: * 2 FETCH (FLAGS (\Deleted \Flagged \Recent))
S: * 3 FETCH (FLAGS (\Recent))
S: a3 OK FETCH completed
C: a4 NOOP
S: * 2 EXPUNGE
S: a4 OK NOOP completed
`)
		})
	}
}

// wakeModes are the two ways a session meets a change made by another:
// awake, and asleep between commands (woken by its next command, with its
// view rebuilt from the state blob). A client must not tell them apart.
var wakeModes = []struct {
	name   string
	asleep bool
}{{"awake", false}, {"asleep between commands", true}}

// startMode starts a server whose idling sessions hibernate at once when
// asleep is set, and never otherwise.
func startMode(t *testing.T, asleep bool) *testserver.Server {
	return testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		if asleep {
			cfg.HibernateAfter = time.Millisecond
		}
	}))
}

// sleepBetweenCommands puts a, a session with a mailbox selected, to
// sleep in IDLE and ends the IDLE asleep: a is then asleep between
// commands. It returns when a's sleep began, which tells it from a later
// one (checkSameSleep).
//
// Every session of srv sleeps after a millisecond without a command, so
// a may already sleep between commands when its IDLE comes (the IDLE and
// the DONE are then both answered asleep), and the other sessions of the
// test sleep after their commands too: a's own session is watched, never
// a count of all sleepers or of answers given asleep.
func sleepBetweenCommands(t *testing.T, srv *testserver.Server, a *testserver.Client) time.Time {
	t.Helper()
	a.Run(`
C: i1 IDLE
S: + idling
`)
	waitAsleep(t, srv, a)
	slept := sessionOf(t, srv, a).Since
	a.Run(`
C: DONE
S: i1 OK IDLE terminated
`)
	checkSameSleep(t, srv, a, slept, "after its DONE")
	return slept
}

// checkSameSleep fails the test unless a's session is asleep in the
// sleep that began at slept: a sleeper answered in place keeps its
// entry in the hibernator, a full wake drops it (before the woken
// session writes anything) and a later sleep gets a new one, so a
// session that woke, even if it slept again since, is caught. A wake by
// another session's change runs on a goroutine of the hibernator's and
// is caught when it came before the check, which in practice it does.
func checkSameSleep(t *testing.T, srv *testserver.Server, a *testserver.Client, slept time.Time, when string) {
	t.Helper()
	if s := sessionOf(t, srv, a); !s.Asleep || !s.Since.Equal(slept) {
		t.Fatalf("%s: a's session asleep %v since %v, want asleep since %v (it woke)", when, s.Asleep, s.Since, slept)
	}
}
