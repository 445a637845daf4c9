package imapserver_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// modseqOf extracts the MODSEQ value from a FETCH response.
func modseqOf(t *testing.T, line string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`MODSEQ \((\d+)\)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no MODSEQ in %q", line)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

func TestCondStore(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 3)
	c := srv.Login(t, srv.Alice)
	c.Run(`
C: a1 SELECT INBOX (CONDSTORE)
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted
S: * 3 EXISTS
S: * 3 RECENT
S: * OK [UNSEEN 1] First unseen
S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
S: * OK [UIDNEXT 4] Predicted next UID
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S~ \* OK \[MAILBOXID \(F[0-9a-f]+\)\] Ok
S: a1 OK [READ-WRITE] SELECT completed
`)
	lines := c.Cmd("a2 FETCH 1:3 (MODSEQ)")
	if len(lines) != 4 {
		t.Fatalf("FETCH MODSEQ: %q", lines)
	}
	m1, m3 := modseqOf(t, lines[0]), modseqOf(t, lines[2])
	lines = c.Cmd(`a3 STORE 1 +FLAGS (\Flagged)`)
	m1b := modseqOf(t, lines[0])
	if m1b <= m3 || m1b <= m1 {
		t.Fatalf("STORE MODSEQ %d not above %d, %d", m1b, m1, m3)
	}
	if want := `* 1 FETCH (FLAGS (\Flagged \Recent) MODSEQ (` + strconv.FormatUint(m1b, 10) + `))`; lines[0] != want {
		t.Fatalf("got %q, want %q", lines[0], want)
	}
	ms := strconv.FormatUint(m3, 10)
	c.Run(`
# Message 1 changed after ` + ms + `; 2 and 3 did not.
C: a4 STORE 1:3 (UNCHANGEDSINCE ` + ms + `) +FLAGS (\Seen)
S~ \* 2 FETCH \(FLAGS \(\\Seen \\Recent\) MODSEQ \(\d+\)\)
S~ \* 3 FETCH \(FLAGS \(\\Seen \\Recent\) MODSEQ \(\d+\)\)
S: a4 OK [MODIFIED 1] Conditional STORE failed
C: a5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE ` + strconv.FormatUint(m1b, 10) + `)
S~ \* 2 FETCH \(UID 2 FLAGS \(\\Seen \\Recent\) MODSEQ \(\d+\)\)
S~ \* 3 FETCH \(UID 3 FLAGS \(\\Seen \\Recent\) MODSEQ \(\d+\)\)
S: a5 OK UID FETCH completed
C: a6 SEARCH MODSEQ ` + strconv.FormatUint(m1b+1, 10) + `
S~ \* SEARCH 2 3 \(MODSEQ \d+\)
S: a6 OK SEARCH completed
C: a7 UID STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\Seen)
S: a7 OK [MODIFIED 1] Conditional STORE failed
`)
	// Another session's change comes with MODSEQ for this one.
	b := selectInbox(t, srv)
	b.Cmd(`b1 STORE 1 -FLAGS (\Flagged)`)
	lines = c.Cmd("a8 NOOP")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `* 1 FETCH (UID 1 FLAGS (\Recent) MODSEQ (`) {
		t.Fatalf("NOOP: %q", lines)
	}
}

// TestCondstoreEnabledWhileSelected: the first CONDSTORE enabling command
// on a selected mailbox tells the mailbox's HIGHESTMODSEQ in an untagged
// OK (RFC 7162 3.1), once; SEARCH MODSEQ does the same.
func TestCondstoreEnabledWhileSelected(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 2)
	c := selectInbox(t, srv)
	c.Run(`
C: a1 FETCH 1 (FLAGS MODSEQ)
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S~ \* 1 FETCH \(FLAGS \(.*\) MODSEQ \(\d+\)\)
S: a1 OK FETCH completed
C: a2 FETCH 2 (MODSEQ)
S~ \* 2 FETCH \(MODSEQ \(\d+\)\)
S: a2 OK FETCH completed
`)
	d := selectInbox(t, srv)
	d.Run(`
C: b1 SEARCH MODSEQ 1
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S~ \* SEARCH 1 2 \(MODSEQ \d+\)
S: b1 OK SEARCH completed
`)
}

// TestESearchMinMaxModSeq: with only MIN and/or MAX, ESEARCH's MODSEQ is
// the highest mod-sequence of the messages returned, not of every match
// (RFC 7162 3.1.5); with ALL or COUNT it is every match's.
func TestESearchMinMaxModSeq(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 3)
	c := selectInbox(t, srv)
	c.MustOK(`STORE 2 +FLAGS.SILENT (\Flagged)`) // message 2 gets the highest MODSEQ
	modseq := map[string]string{}
	for _, l := range c.MustOK("FETCH 1:3 (MODSEQ)") {
		var seq, ms string
		if n, _ := fmt.Sscanf(l, "* %s FETCH (MODSEQ (%s", &seq, &ms); n == 2 {
			modseq[seq] = strings.TrimRight(ms, ")")
		}
	}
	if len(modseq) != 3 || modseq["2"] == modseq["3"] {
		t.Fatalf("MODSEQs %v: want three, message 2's above message 3's", modseq)
	}
	for _, tc := range []struct{ ret, want string }{
		{"MIN", "MIN 1 MODSEQ " + modseq["1"]},
		{"MAX", "MAX 3 MODSEQ " + modseq["3"]},
		{"MIN MAX", "MIN 1 MAX 3 MODSEQ " + modseq["3"]},
		{"COUNT", "COUNT 3 MODSEQ " + modseq["2"]},
	} {
		lines := c.MustOK("SEARCH RETURN (" + tc.ret + ") MODSEQ 1")
		want := `* ESEARCH (TAG "` + strings.Fields(lines[len(lines)-1])[0] + `") ` + tc.want
		if lines[0] != want {
			t.Errorf("RETURN (%s): %q, want %q", tc.ret, lines[0], want)
		}
	}
}
