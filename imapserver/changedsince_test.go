package imapserver_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
)

// TestChangedSinceAcrossRuns: CHANGEDSINCE and QRESYNC's SELECT find a
// session's changed messages through the view's MODSEQ summary
// (imapview.View.ChangedSince) in a mailbox of several runs of
// mailstore.ModSeqBlock messages: after another session's flag change at
// the start of a run, after expunges that shift that message into the
// run before, after a new message opens a run, in a view shared with a
// later session, and in a QRESYNC SELECT on a new connection.
func TestChangedSinceAcrossRuns(t *testing.T) {
	const n = 3*mailstore.ModSeqBlock + 5
	edge := mailstore.ModSeqBlock + 1 // UID of the first message of the second run
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", n)

	a := srv.Login(t, srv.Alice)
	a.MustOK("ENABLE QRESYNC")
	lines := a.MustOK("SELECT INBOX")
	m0 := highestModSeq(t, lines)
	uidValidity := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(strings.Join(lines, "\n"))[1]

	b := selectInbox(t, srv)
	b.MustOK(`UID STORE ` + strconv.Itoa(edge) + `,150 +FLAGS (\Flagged)`)
	a.MustOK("NOOP")
	b.MustOK(`UID STORE 1:2 +FLAGS (\Deleted)`)
	b.MustOK("EXPUNGE")
	a.MustOK("NOOP") // UID edge is now in the first run
	b.MustOK("LOGOUT")
	appendMsg(t, srv.Login(t, srv.Alice), "INBOX", "", testMessage(n+1))
	a.MustOK("NOOP")

	want := []uint32{uint32(edge), 150, n + 1}
	since := strconv.FormatUint(m0, 10)
	if got := fetchedUIDs(t, a.MustOK("UID FETCH 1:* (FLAGS) (CHANGEDSINCE "+since+")")); !slices.Equal(got, want) {
		t.Fatalf("UID FETCH 1:* CHANGEDSINCE %s: UIDs %v, want %v", since, got, want)
	}
	if got := fetchedUIDs(t, a.MustOK("UID FETCH 100:* (FLAGS) (CHANGEDSINCE "+since+")")); !slices.Equal(got, want[1:]) {
		t.Fatalf("UID FETCH 100:* CHANGEDSINCE %s: UIDs %v, want %v", since, got, want[1:])
	}
	if got := fetchedUIDs(t, a.MustOK("FETCH 1:* (UID FLAGS) (CHANGEDSINCE "+since+")")); !slices.Equal(got, want) {
		t.Fatalf("FETCH 1:* CHANGEDSINCE %s: UIDs %v, want %v", since, got, want)
	}

	// A new session of the same state shares the list and its summary.
	c := srv.Login(t, srv.Alice)
	c.MustOK("ENABLE QRESYNC")
	lines = c.MustOK("SELECT INBOX (QRESYNC (" + uidValidity + " " + since + "))")
	if !slices.Contains(lines, "* VANISHED (EARLIER) 1:2") {
		t.Fatalf("QRESYNC SELECT without VANISHED (EARLIER) 1:2: %q", lines)
	}
	if got := fetchedUIDs(t, lines); !slices.Equal(got, want) {
		t.Fatalf("QRESYNC SELECT since %s: UIDs %v, want %v", since, got, want)
	}
	if got := fetchedUIDs(t, c.MustOK("UID FETCH 1:* (FLAGS) (CHANGEDSINCE "+since+")")); !slices.Equal(got, want) {
		t.Fatalf("new session's CHANGEDSINCE %s: UIDs %v, want %v", since, got, want)
	}
}

// highestModSeq returns the HIGHESTMODSEQ of a SELECT's responses.
func highestModSeq(t *testing.T, lines []string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`HIGHESTMODSEQ (\d+)`).FindStringSubmatch(strings.Join(lines, "\n"))
	if m == nil {
		t.Fatalf("no HIGHESTMODSEQ in %q", lines)
	}
	v, _ := strconv.ParseUint(m[1], 10, 64)
	return v
}

// fetchedUIDs returns the UIDs of the FETCH responses among lines, in order.
func fetchedUIDs(t *testing.T, lines []string) []uint32 {
	t.Helper()
	re := regexp.MustCompile(`^\* \d+ FETCH \(.*UID (\d+)`)
	var uids []uint32
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			u, _ := strconv.ParseUint(m[1], 10, 32)
			uids = append(uids, uint32(u))
		}
	}
	return uids
}
