package imapserver_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// grab returns the first submatch of re in lines, failing the test when
// no line matches.
func grab(t *testing.T, lines []string, re string) string {
	t.Helper()
	r := regexp.MustCompile(re)
	for _, l := range lines {
		if m := r.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no response matches %s in %q", re, lines)
	return ""
}

// TestObjectID: RFC 8474 over the wire. CREATE, SELECT, EXAMINE and
// STATUS give one MAILBOXID, which RENAME keeps (4); EMAILIDs differ
// between messages and MOVE and COPY keep them (5.1); three messages
// that answer nothing have three THREADIDs (5.2); SEARCH finds by
// EMAILID, and by THREADID only a THREADID (6). TestThreadID has more.
func TestObjectID(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 3)
	c := srv.Login(t, srv.Alice)
	if caps := c.Cmd("c CAPABILITY")[0]; !strings.Contains(caps, " OBJECTID") {
		t.Fatalf("OBJECTID not advertised: %s", caps)
	}
	const id = `\(([A-Za-z0-9_-]{1,255})\)`
	created := grab(t, c.Cmd("c1 CREATE Box"), `^c1 OK \[MAILBOXID `+id+`\] `)
	status := grab(t, c.Cmd("c2 STATUS Box (MESSAGES MAILBOXID)"), `^\* STATUS "?Box"? \(MESSAGES 0 MAILBOXID `+id+`\)$`)
	if status != created {
		t.Fatalf("STATUS MAILBOXID %s, CREATE said %s", status, created)
	}
	c.Cmd("c3 RENAME Box Renamed")
	if got := grab(t, c.Cmd("c4 EXAMINE Renamed"), `^\* OK \[MAILBOXID `+id+`\]`); got != created {
		t.Fatalf("after RENAME: MAILBOXID %s, want %s", got, created)
	}
	again := grab(t, c.Cmd("c5 CREATE Box"), `^c5 OK \[MAILBOXID `+id+`\] `)
	if again == created {
		t.Fatalf("a new Box has the renamed one's MAILBOXID %s", again)
	}
	inboxID := grab(t, c.Cmd("c6 SELECT INBOX"), `^\* OK \[MAILBOXID `+id+`\]`)
	if inboxID == created || inboxID == again {
		t.Fatalf("INBOX shares MAILBOXID %s", inboxID)
	}

	lines := c.Cmd("f1 FETCH 1:3 (EMAILID THREADID)")
	emailIDs := map[string]string{}
	threadIDs := map[string]string{}
	re := regexp.MustCompile(`^\* (\d) FETCH \(EMAILID \(([A-Za-z0-9_-]+)\) THREADID \(([A-Za-z0-9_-]+)\)\)$`)
	for _, l := range lines[:len(lines)-1] {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("FETCH EMAILID THREADID: %q", l)
		}
		emailIDs[m[1]], threadIDs[m[1]] = m[2], m[3]
	}
	if len(emailIDs) != 3 || emailIDs["1"] == emailIDs["2"] || emailIDs["2"] == emailIDs["3"] || emailIDs["1"] == emailIDs["3"] {
		t.Fatalf("EMAILIDs of three messages: %v", emailIDs)
	}
	if threadIDs["1"] == threadIDs["2"] || threadIDs["2"] == threadIDs["3"] || threadIDs["1"] == threadIDs["3"] {
		t.Fatalf("THREADIDs of three messages that answer nothing: %v", threadIDs)
	}
	c.Run(`
C: s1 UID SEARCH EMAILID ` + emailIDs["2"] + `
S: * SEARCH 2
S~ s1 OK .*
C: s2 SEARCH OR EMAILID ` + emailIDs["3"] + ` EMAILID nosuchid
S: * SEARCH 3
S~ s2 OK .*
C: s3 SEARCH THREADID ` + emailIDs["1"] + `
S: * SEARCH
S~ s3 OK .*
C: s3b SEARCH THREADID ` + threadIDs["2"] + `
S: * SEARCH 2
S~ s3b OK .*
C: s4 SEARCH EMAILID bad.id
S~ s4 BAD .*
C: s5 FETCH 1 EMAILID
S: * 1 FETCH (EMAILID (` + emailIDs["1"] + `))
S~ s5 OK .*
`)
	c.Cmd("m1 MOVE 2 Box")
	c.Cmd("m2 COPY 2 Box") // what was 3
	c.Cmd("m3 EXAMINE Box")
	lines = c.Cmd("m4 FETCH 1:2 EMAILID")
	if want := "* 1 FETCH (EMAILID (" + emailIDs["2"] + "))"; lines[0] != want {
		t.Fatalf("moved message: %q, want %q", lines[0], want)
	}
	if want := "* 2 FETCH (EMAILID (" + emailIDs["3"] + "))"; lines[1] != want {
		t.Fatalf("copied message: %q, want %q", lines[1], want)
	}
}

// TestObjectIDAfterHibernation: a session that hibernated and woke gives
// the same EMAILIDs and THREADIDs and finds by them as before.
func TestObjectIDAfterHibernation(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
	}))
	fill(t, srv, "INBOX", 2)
	c := selectInbox(t, srv)
	before := c.Cmd("f1 FETCH 1:2 (UID EMAILID THREADID)")
	c.Send("i IDLE")
	c.Expect("S: + idling")
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	fill(t, srv, "INBOX", 1)
	c.WaitFor(`^\* 3 EXISTS$`)
	c.Send("DONE")
	c.WaitFor(`^i OK`)
	after := c.Cmd("f2 FETCH 1:2 (UID EMAILID THREADID)")
	for i := range 2 {
		if after[i] != before[i] {
			t.Fatalf("after a wake: %q, before: %q", after[i], before[i])
		}
	}
	id := grab(t, before, `^\* 2 FETCH \(UID \d+ EMAILID \(([^)]+)\) THREADID \(T[0-9a-f]+\)\)$`)
	c.Run(`
C: s1 SEARCH EMAILID ` + id + `
S: * SEARCH 2
S~ s1 OK .*
`)
}
