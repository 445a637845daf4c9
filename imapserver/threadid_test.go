package imapserver_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// threadTestMessage is a message with the given Message-ID (none when
// ""), References and In-Reply-To.
func threadTestMessage(id, refs, inReplyTo, subject string) string {
	var b strings.Builder
	b.WriteString("From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\n")
	fmt.Fprintf(&b, "Subject: %s\nDate: Mon, 02 Jan 2006 15:04:05 -0700\n", subject)
	if id != "" {
		fmt.Fprintf(&b, "Message-ID: %s\n", id)
	}
	if refs != "" {
		fmt.Fprintf(&b, "References: %s\n", refs)
	}
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s\n", inReplyTo)
	}
	b.WriteString("\nbody\n")
	return strings.ReplaceAll(b.String(), "\n", "\r\n")
}

// fetchThreadIDs returns the THREADID of each message by sequence number
// (1-based; "NIL" for NIL) from FETCH 1:* THREADID.
func fetchThreadIDs(t *testing.T, c *testserver.Client, tag string) map[int]string {
	t.Helper()
	lines := c.Cmd(tag + " FETCH 1:* THREADID")
	re := regexp.MustCompile(`^\* (\d+) FETCH \(THREADID (?:\(([A-Za-z0-9_-]+)\)|(NIL))\)$`)
	ids := map[int]string{}
	for _, l := range lines[:len(lines)-1] {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("FETCH THREADID: %q", l)
		}
		var seq int
		fmt.Sscan(m[1], &seq)
		ids[seq] = m[2] + m[3]
	}
	if !strings.HasPrefix(lines[len(lines)-1], tag+" OK") {
		t.Fatalf("FETCH THREADID: %q", lines)
	}
	return ids
}

// TestThreadID: RFC 8474 5.2 THREADID as threadid.go makes it. A thread's
// first message and its replies (References, or In-Reply-To alone) share
// one THREADID and other threads have others, as THREAD=REFERENCES
// groups them; a reply that came before its parent has the parent's
// thread's id from the start (immutable); a message without Message-ID
// has one of its own; COPY keeps it, a new session gives the same ids, FETCH of one message the same as of all; SEARCH THREADID
// finds the thread (UID SEARCH too, and in another mailbox); another
// user's copy of the thread has another id.
func TestThreadID(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	msgs := []string{
		threadTestMessage("<a@x>", "", "", "Plan"),                     // 1: root
		threadTestMessage("<b@x>", "<a@x>", "<a@x>", "Re: Plan"),       // 2
		threadTestMessage("<c@x>", "<a@x> <b@x>", "<b@x>", "Re: Plan"), // 3
		threadTestMessage("<d@x>", "", "", "Other"),                    // 4
		threadTestMessage("<e@x>", "<f@x>", "<f@x>", "Re: Late"),       // 5: before its parent
		threadTestMessage("<f@x>", "", "", "Late"),                     // 6
		threadTestMessage("", "", "", "Bare"),                          // 7: no Message-ID
		threadTestMessage("<h@x>", "", "<d@x>", "Re: Other"),           // 8: In-Reply-To alone
	}
	for _, m := range msgs {
		appendMsg(t, c, "INBOX", "", m)
	}
	c.Cmd("s SELECT INBOX")
	ids := fetchThreadIDs(t, c, "f1")
	groups := [][]int{{1, 2, 3}, {4, 8}, {5, 6}, {7}}
	seen := map[string]bool{}
	for _, g := range groups {
		id := ids[g[0]]
		if id == "NIL" || !strings.HasPrefix(id, "T") || seen[id] {
			t.Fatalf("thread %v: THREADID %q (all: %v)", g, id, ids)
		}
		seen[id] = true
		for _, seq := range g[1:] {
			if ids[seq] != id {
				t.Errorf("message %d: THREADID %s, its thread %v has %s", seq, ids[seq], g, id)
			}
		}
	}
	// The same grouping as THREAD=REFERENCES gives (no subject merge
	// here: the subjects differ per thread).
	c.Run(`
C: t1 THREAD REFERENCES UTF-8 ALL
S: * THREAD (1 2 3)(4 8)(6 5)(7)
S~ t1 OK .*
`)
	c.Run(`
C: s1 SEARCH THREADID ` + ids[1] + `
S: * SEARCH 1 2 3
S~ s1 OK .*
C: s2 UID SEARCH THREADID ` + ids[5] + `
S: * SEARCH 5 6
S~ s2 OK .*
C: s3 SEARCH OR THREADID ` + ids[7] + ` THREADID ` + ids[4] + `
S: * SEARCH 4 7 8
S~ s3 OK .*
C: s4 FETCH 3 THREADID
S: * 3 FETCH (THREADID (` + ids[3] + `))
S~ s4 OK .*
C: s5 COPY 2,7 Archive
S~ s5 OK .*
`)
	c.Cmd("ex EXAMINE Archive")
	c.Run(`
C: a1 FETCH 1:2 THREADID
S: * 1 FETCH (THREADID (` + ids[2] + `))
S: * 2 FETCH (THREADID (` + ids[7] + `))
S~ a1 OK .*
C: a2 SEARCH THREADID ` + ids[1] + `
S: * SEARCH 1
S~ a2 OK .*
`)
	c.Cmd("lo LOGOUT")

	// A new session gives the same ids (they are a function of the
	// message's header and the user: nothing of the session).
	c = srv.Login(t, srv.Alice)
	c.Cmd("s SELECT INBOX")
	if again := fetchThreadIDs(t, c, "f2"); !equalMaps(again, ids) {
		t.Fatalf("after a restart: %v, before: %v", again, ids)
	}

	// Bob's copy of the first thread has ids of its own.
	b := srv.Login(t, srv.Bob)
	appendMsg(t, b, "INBOX", "", msgs[0])
	b.Cmd("s SELECT INBOX")
	if bobs := fetchThreadIDs(t, b, "f3"); bobs[1] == ids[1] {
		t.Fatalf("bob's THREADID %s is alice's", bobs[1])
	}
}

func equalMaps(a, b map[int]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]int, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}
