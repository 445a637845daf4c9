package imapserver_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/searchindex"
)

// dropMessages writes n messages straight into user's INBOX cur/, as a
// migration or another program would (no APPEND, no delivery): message
// i says "word<i%7>", and sorts as the i-th, so it gets UID i+1.
func dropMessages(t *testing.T, srv *testserver.Server, user string, n int) {
	t.Helper()
	cur := filepath.Join(srv.DataDir, "users", user, "Maildir", "cur")
	if err := os.MkdirAll(cur, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("%d.M%06dP1Q1.dropped:2,", 1_700_000_000+i, i)
		body := fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d says word%d\r\n", i, i, i%7)
		if err := os.WriteFile(filepath.Join(cur, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// wordUIDs is what BODY "word<w>" finds among dropMessages' n messages.
func wordUIDs(n, w int) string {
	var uids []string
	for i := w; i < n; i += 7 {
		uids = append(uids, strconv.Itoa(i+1))
	}
	return strings.Join(uids, " ")
}

var uidValidityRe = regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)

// selectUIDValidity selects mailbox on c and returns its UIDVALIDITY.
func selectUIDValidity(t *testing.T, c *testserver.Client, cmd string) uint32 {
	t.Helper()
	for _, l := range c.MustOK(cmd) {
		if m := uidValidityRe.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseUint(m[1], 10, 32)
			return uint32(v)
		}
	}
	t.Fatalf("no UIDVALIDITY in the answer to %s", cmd)
	return 0
}

// searchIndexCovers says whether user's one search index covers UIDs
// 1..n of a mailbox of uidValidity.
func searchIndexCovers(t *testing.T, srv *testserver.Server, user string, uidValidity uint32, n int) bool {
	dirs := searchIndexDirs(t, srv, user)
	if len(dirs) != 1 {
		return false
	}
	ix, err := searchindex.Open(dirs[0], uidValidity, slog.New(slog.DiscardHandler))
	if err != nil {
		return false
	}
	defer ix.Close()
	uids := make([]uint32, n)
	for i := range uids {
		uids[i] = uint32(i + 1)
	}
	return len(ix.Missing(uids)) == 0
}

// TestSearchIndexBuiltAfterSelect: a large mailbox whose messages came
// without a search (dropped into the Maildir) gets its search index
// after EXAMINE alone, in the background, covering every message, and
// searches answer exactly through it. On code that builds the index only
// at the first SEARCH BODY/TEXT no index appears.
func TestSearchIndexBuiltAfterSelect(t *testing.T) {
	const n = 700 // above searchBuildMin
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	dropMessages(t, srv, "alice", n)
	uidValidity := selectUIDValidity(t, c, "EXAMINE INBOX")
	testserver.WaitFor(t, "search index covering every message", func() bool {
		return searchIndexCovers(t, srv, "alice", uidValidity, n)
	})
	for w := range 7 {
		if got := searchLiterals(t, c, "BODY \x00", []string{fmt.Sprintf("WORD%d", w)}); got != wordUIDs(n, w) {
			t.Fatalf("BODY word%d found %q, want %q", w, got, wordUIDs(n, w))
		}
	}
}

// TestSearchWhileIndexBuilds: searches made right after SELECT, while
// the background build of a large mailbox's index is under way, answer
// exactly (the messages not yet indexed are read), and so do those after
// it is done.
func TestSearchWhileIndexBuilds(t *testing.T) {
	const n = 3000
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	dropMessages(t, srv, "alice", n)
	uidValidity := selectUIDValidity(t, c, "SELECT INBOX")
	for round := 0; ; round++ {
		done := searchIndexCovers(t, srv, "alice", uidValidity, n)
		for w := range 7 {
			if got := searchLiterals(t, c, "TEXT \x00", []string{fmt.Sprintf("word%d", w)}); got != wordUIDs(n, w) {
				t.Fatalf("round %d: TEXT word%d found %q, want %q", round, w, got, wordUIDs(n, w))
			}
		}
		if done {
			break
		}
		if round > 10000 {
			t.Fatal("index never complete")
		}
	}
}

// TestSearchBuildReportsJobDone: a background build that indexed a
// mailbox tells Config.JobDone when it ends (cmd/dormouse's memory
// policy then returns the heap its reading left), after the index is
// complete.
func TestSearchBuildReportsJobDone(t *testing.T) {
	const n = 700 // above searchBuildMin
	var done atomic.Int32
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.JobDone = func() { done.Add(1) }
	}))
	c := srv.Login(t, srv.Alice)
	dropMessages(t, srv, "alice", n)
	uidValidity := selectUIDValidity(t, c, "EXAMINE INBOX")
	testserver.WaitFor(t, "JobDone after the background build", func() bool { return done.Load() > 0 })
	if !searchIndexCovers(t, srv, "alice", uidValidity, n) {
		t.Fatal("JobDone before the index covered every message")
	}
}

// TestSearchBuildSkipsIncrement: once the background builder has
// indexed a mailbox, a SELECT that finds a few new messages queues no
// build of them (the next search reads and indexes them itself). The
// builder runs its queue in order, so once a build queued after that
// SELECT (Bob's mailbox) is complete, a build the SELECT queued would be
// too. The search afterwards finds the new messages.
func TestSearchBuildSkipsIncrement(t *testing.T) {
	const n = 700 // above searchBuildMin
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	dropMessages(t, srv, "alice", n)
	uidValidity := selectUIDValidity(t, c, "SELECT INBOX")
	testserver.WaitFor(t, "search index covering every message", func() bool {
		return searchIndexCovers(t, srv, "alice", uidValidity, n)
	})
	for i := range 3 {
		appendMsg(t, c, "INBOX", "", fmt.Sprintf("Subject: new %d\r\n\r\nfreshword arrived\r\n", i))
	}
	c.MustOK("SELECT INBOX")

	b := srv.Login(t, srv.Bob)
	dropMessages(t, srv, "bob", n)
	bobValidity := selectUIDValidity(t, b, "EXAMINE INBOX")
	testserver.WaitFor(t, "Bob's search index, queued after Alice's SELECT", func() bool {
		return searchIndexCovers(t, srv, "bob", bobValidity, n)
	})
	if searchIndexCovers(t, srv, "alice", uidValidity, n+3) {
		t.Fatal("a SELECT after 3 new messages queued a background build of them")
	}
	if got, want := searchLiterals(t, c, "BODY \x00", []string{"freshword"}), fmt.Sprintf("%d %d %d", n+1, n+2, n+3); got != want {
		t.Fatalf("BODY freshword found %q, want %q", got, want)
	}
}
