package imapserver_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// sortMessages are the messages of the SORT and THREAD tests, with the
// internal date each is appended with. Their keys, worked out by hand in
// the tests' comments:
//
//	seq  sent date (Date, else INTERNALDATE)  base subject  From mailbox / display  To mailbox / display  Cc
//	1    3 Jan 10:00                          Budget        carol / Zed             dave / dave@y.org
//	2    1 Jan 10:00                          budget        alice / Alice           bob / Bob             zoe
//	3    1 Jan 00:00 (no Date)                Agenda (re)   bob / bob@example.org   zz / Ann
//	4    2 Jan 10:00                          été           emile / Émile           alice / alice@...     al
//	5    4 Jan 10:00                          Agenda        yves / Yves             bob / Bob
//	6    5 Jan 10:00                          agenda (re)   xavier / Xavier
//	7    6 Jan 10:00                          Fig
//
// Threads by ID: 1 answers 2 (In-Reply-To only), 4 answers 1 (References
// 2 1); 5 and 6 both answer <gone@x>, which is not in the mailbox.
var sortMessages = []struct{ internal, msg string }{
	{"05-Jan-2006 00:00:05 +0000", "From: \"Zed\" <carol@x.org>\nTo: dave@y.org\nSubject: Re: Budget\n" +
		"Date: Tue, 03 Jan 2006 10:00:00 +0000\nMessage-ID: <m1@x>\nIn-Reply-To: <m2@x>\n\nOne.\n"},
	{"05-Jan-2006 00:00:04 +0000", "From: Alice <alice@example.org>\nTo: \"Bob\" <bob@example.org>\nCc: zoe@z.org\n" +
		"Subject: budget\nDate: Sun, 01 Jan 2006 10:00:00 +0000\nMessage-ID: <m2@x>\n\nTwo, a longer body than the others.\n"},
	{"01-Jan-2006 00:00:00 +0000", "From: bob@example.org\nTo: \"Ann\" <zz@y.org>\nSubject: [list] Fwd: Agenda (fwd)\n" +
		"Message-ID: <m3@x>\n\n3\n"},
	{"05-Jan-2006 00:00:01 +0000", "From: =?UTF-8?Q?=C3=89mile?= <emile@example.org>\nTo: alice@example.org\n" +
		"Cc: \"Al\" <al@z.org>\nSubject: =?UTF-8?Q?=C3=A9t=C3=A9?=\nDate: Mon, 02 Jan 2006 10:00:00 +0000\n" +
		"Message-ID: <m4@x>\nReferences: <m2@x>\n <m1@x>\n\nFour, four, four.\n"},
	{"05-Jan-2006 00:00:02 +0000", "From: \"Yves\" <yves@example.org>\nTo: \"Bob\" <bob@example.org>\nSubject: Agenda\n" +
		"Date: Wed, 04 Jan 2006 10:00:00 +0000\nMessage-ID: <m5@x>\nReferences: <gone@x>\n\nFive\n"},
	{"05-Jan-2006 00:00:03 +0000", "From: \"Xavier\" <xavier@example.org>\nSubject: RE: [list] agenda\n" +
		"Date: Thu, 05 Jan 2006 10:00:00 +0000\nMessage-ID: <m6@x>\nReferences: <gone@x>\n\nSix six six six six six.\n"},
	{"05-Jan-2006 00:00:06 +0000", "Subject: Fig\nDate: Fri, 06 Jan 2006 10:00:00 +0000\nMessage-ID: <m7@x>\n\nSeven\n"},
}

// fillSorted appends sortMessages to alice's INBOX after one message that
// is expunged, so that UIDs are sequence numbers plus one; it returns
// alice's session with INBOX selected.
func fillSorted(t *testing.T, srv *testserver.Server) *testserver.Client {
	t.Helper()
	c := srv.Login(t, srv.Alice)
	appendMsg(t, c, "INBOX", `\Deleted`, testMessage(0))
	for _, m := range sortMessages {
		msg := strings.ReplaceAll(m.msg, "\n", "\r\n")
		c.Send(fmt.Sprintf("ap APPEND INBOX \"%s\" {%d}", m.internal, len(msg)))
		if l := c.ReadLine(); !strings.HasPrefix(l, "+") {
			t.Fatalf("APPEND: want continuation, got %q", l)
		}
		c.Write(msg + "\r\n")
		if lines := c.ReadUntilTagged("ap"); !strings.HasPrefix(lines[len(lines)-1], "ap OK") {
			t.Fatalf("APPEND: %q", lines)
		}
	}
	c.Cmd("s0 SELECT INBOX")
	c.Cmd("s1 EXPUNGE")
	return c
}

// TestSort checks SORT and UID SORT (RFC 5256 3) on every key, REVERSE,
// several keys, search criteria and the errors, with SORT=DISPLAY's keys
// (RFC 5957) and i;unicode-casemap ordering (RFC 5051: "été" decomposes
// to E + accent, so it sorts between "Budget" and "Fig").
func TestSort(t *testing.T) {
	srv := testserver.Start(t)
	c := fillSorted(t, srv)
	c.Run(`
C: a1 SORT (DATE) UTF-8 ALL
S: * SORT 3 2 4 1 5 6 7
S: a1 OK SORT completed
C: a2 SORT (ARRIVAL) US-ASCII ALL
S: * SORT 3 4 5 6 2 1 7
S: a2 OK SORT completed
# Base subjects (RFC 5256 2.1): AGENDA 3 5 6, BUDGET 1 2, E+accent 4, FIG 7.
C: a3 SORT (SUBJECT) UTF-8 ALL
S: * SORT 3 5 6 1 2 4 7
S: a3 OK SORT completed
# No From sorts first, as the empty string.
C: a4 SORT (FROM) UTF-8 ALL
S: * SORT 7 2 3 1 4 6 5
S: a4 OK SORT completed
C: a5 SORT (REVERSE FROM) UTF-8 ALL
S: * SORT 5 6 4 1 3 2 7
S: a5 OK SORT completed
C: a6 SORT (DISPLAYFROM) UTF-8 ALL
S: * SORT 7 2 3 4 6 5 1
S: a6 OK SORT completed
C: a7 SORT (TO) UTF-8 ALL
S: * SORT 6 7 4 2 5 1 3
S: a7 OK SORT completed
C: a8 SORT (DISPLAYTO) UTF-8 ALL
S: * SORT 6 7 4 3 2 5 1
S: a8 OK SORT completed
C: a9 SORT (CC DATE) UTF-8 ALL
S: * SORT 3 1 5 6 7 4 2
S: a9 OK SORT completed
C: b1 SORT (SUBJECT REVERSE DATE) UTF-8 NOT FROM yves
S: * SORT 6 3 1 2 4 7
S: b1 OK SORT completed
C: b2 UID SORT (DATE) UTF-8 ALL
S: * SORT 4 3 5 2 6 7 8
S: b2 OK UID SORT completed
C: b3 SORT (DATE) UTF-8 SUBJECT nothing-like-this
S: * SORT
S: b3 OK SORT completed
C: b4 SORT (DATE) KOI8-R ALL
S: b4 NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset
C: b5 SORT (DATE REVERSE) UTF-8 ALL
S~ b5 BAD .*
C: b6 SORT () UTF-8 ALL
S~ b6 BAD .*
C: b7 SORT (FROB) UTF-8 ALL
S~ b7 BAD .*
C: b8 SORT (DATE) UTF-8
S~ b8 BAD .*
C: b9 SORT (DATE) ALL
S~ b9 BAD .*
C: c1 NOOP
S: c1 OK NOOP completed
`)
}

// TestSortSize checks SORT (SIZE) and (REVERSE SIZE) against the sizes
// the messages were appended with.
func TestSortSize(t *testing.T) {
	srv := testserver.Start(t)
	c := fillSorted(t, srv)
	seqs := make([]int, len(sortMessages))
	for i := range seqs {
		seqs[i] = i + 1
	}
	size := func(seq int) int { return len(strings.ReplaceAll(sortMessages[seq-1].msg, "\n", "\r\n")) }
	slices.SortStableFunc(seqs, func(a, b int) int { return size(a) - size(b) })
	want := "* SORT"
	for _, s := range seqs {
		want += fmt.Sprint(" ", s)
	}
	slices.SortStableFunc(seqs, func(a, b int) int { return size(b) - size(a) })
	wantRev := "* SORT"
	for _, s := range seqs {
		wantRev += fmt.Sprint(" ", s)
	}
	c.Run(`
C: a1 SORT (SIZE) UTF-8 ALL
S: ` + want + `
S: a1 OK SORT completed
C: a2 SORT (REVERSE SIZE) UTF-8 ALL
S: ` + wantRev + `
S: a2 OK SORT completed
`)
}

// TestESort checks SORT's RETURN options (RFC 5267 3.1): MIN and MAX are
// the first and last in the sort order, ALL lists them in that order;
// and SAVE (RFC 5182) keeps the result for "$".
func TestESort(t *testing.T) {
	srv := testserver.Start(t)
	c := fillSorted(t, srv)
	c.Run(`
C: a1 SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL
S: * ESEARCH (TAG "a1") MIN 3 MAX 7 ALL 3,2,4,1,5:7 COUNT 7
S: a1 OK SORT completed
C: a2 UID SORT RETURN () (ARRIVAL) UTF-8 ALL
S: * ESEARCH (TAG "a2") UID ALL 4:7,3,2,8
S: a2 OK UID SORT completed
C: a3 SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT agenda
S: * ESEARCH (TAG "a3") COUNT 3
S: a3 OK SORT completed
C: a4 SORT RETURN (MIN) (DATE) UTF-8 SUBJECT nothing-like-this
S: * ESEARCH (TAG "a4")
S: a4 OK SORT completed
C: a5 SORT RETURN (SAVE MAX) (REVERSE SUBJECT) UTF-8 ALL
S: * ESEARCH (TAG "a5") MAX 6
S: a5 OK SORT completed
C: a6 FETCH $ (UID)
S: * 6 FETCH (UID 7)
S: a6 OK FETCH completed
C: a7 SORT RETURN (FROB) (DATE) UTF-8 ALL
S~ a7 BAD .*
`)
}

// TestThread checks THREAD and UID THREAD with ORDEREDSUBJECT, REFERENCES
// and REFS (RFC 5256 4; REFS as Dovecot has it), worked out by hand:
//
//   - ORDEREDSUBJECT: AGENDA 3 (5)(6), BUDGET 2 1, été 4, Fig 7, threads
//     by their first message's date.
//   - REFERENCES: 2 -> 1 (In-Reply-To) -> 4 (References); 5 and 6 under a
//     dummy for <gone@x>; 3 ("Fwd: Agenda", a forward) joins that dummy by
//     subject (step 5.C), and the dummy sorts by its first child, 3.
//   - REFS: no merging by subject; threads by their newest message.
//   - Without 5, 6 alone is promoted from the dummy, and 3 and 6, both
//     replies, become siblings under a new dummy (5.C, last case).
func TestThread(t *testing.T) {
	srv := testserver.Start(t)
	c := fillSorted(t, srv)
	c.Run(`
C: a1 THREAD ORDEREDSUBJECT UTF-8 ALL
S: * THREAD (3 (5)(6))(2 1)(4)(7)
S: a1 OK THREAD completed
C: a2 THREAD REFERENCES UTF-8 ALL
S: * THREAD ((3)(5)(6))(2 1 4)(7)
S: a2 OK THREAD completed
C: a3 THREAD REFS UTF-8 ALL
S: * THREAD (3)(2 1 4)((5)(6))(7)
S: a3 OK THREAD completed
C: a4 UID THREAD REFERENCES UTF-8 ALL
S: * THREAD ((4)(6)(7))(3 2 5)(8)
S: a4 OK UID THREAD completed
C: a5 THREAD REFERENCES UTF-8 NOT FROM yves
S: * THREAD ((3)(6))(2 1 4)(7)
S: a5 OK THREAD completed
C: a6 THREAD REFERENCES UTF-8 SUBJECT nothing-like-this
S: * THREAD
S: a6 OK THREAD completed
C: a7 THREAD references UTF-8 1:2
S: * THREAD (2 1)
S: a7 OK THREAD completed
C: a8 THREAD FROB UTF-8 ALL
S~ a8 BAD .*
C: a9 THREAD REFERENCES KOI8-R ALL
S: a9 NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset
C: b1 THREAD REFERENCES UTF-8
S~ b1 BAD .*
`)
}

// TestSortCapabilities checks that the capabilities are advertised.
func TestSortCapabilities(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	lines := c.Cmd("a1 CAPABILITY")
	caps := " " + lines[0] + " "
	for _, want := range []string{"SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "THREAD=REFS", "I18NLEVEL=1"} {
		if !strings.Contains(caps, " "+want+" ") {
			t.Errorf("CAPABILITY lacks %s: %q", want, lines[0])
		}
	}
}

// TestThreadLoops checks REFERENCES on IDs that would make loops (RFC
// 5256 4 step 1: no link that would introduce one), a message that
// references itself, and a duplicate Message-ID (the second message is
// treated as having a unique ID): 1 and 2 reference each other, so 1
// hangs under 2 (2's own parent link would close the loop); 3 references
// itself; 4 and 5 share an ID.
func TestThreadLoops(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	for i, h := range []string{
		"Message-ID: <x@t>\r\nReferences: <y@t>",
		"Message-ID: <y@t>\r\nReferences: <x@t>",
		"Message-ID: <z@t>\r\nReferences: <z@t>",
		"Message-ID: <w@t>",
		"Message-ID: <w@t>",
	} {
		msg := fmt.Sprintf("Subject: subject %d\r\nDate: 0%d Jan 2006 10:00:00 +0000\r\n%s\r\n\r\nbody\r\n", i, i+1, h)
		appendMsg(t, c, "INBOX", "", msg)
	}
	c.Cmd("s0 SELECT INBOX")
	c.Run(`
C: a1 THREAD REFERENCES UTF-8 ALL
S: * THREAD (2 1)(3)(4)(5)
S: a1 OK THREAD completed
C: a2 THREAD REFS US-ASCII ALL
S: * THREAD (2 1)(3)(4)(5)
S: a2 OK THREAD completed
`)
}
