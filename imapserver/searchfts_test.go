package imapserver_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// ftsMessages are bodies on which an index that did not see the text
// as the matcher sees it (decoded, folded, per part) would miss a match.
func ftsMessages(t *testing.T) []string {
	latin1, err := charmap.ISO8859_1.NewEncoder().String("Crème brûlée à la CAFÉ du coin")
	if err != nil {
		t.Fatal(err)
	}
	sjis, err := japanese.ShiftJIS.NewEncoder().String("日本語のテキストです。カンガルー")
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("Grüße aus MÜNCHEN: the kangaroo jumps over the fence"))
	return []string{
		// 1: base64, UTF-8, full case folding (ß = ss).
		"From: a@example.org\r\nSubject: one\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\n" + b64[:20] + "\r\n" + b64[20:] + "\r\n",
		// 2: quoted-printable ISO-8859-1 with a soft line break inside a word.
		"From: b@example.org\r\nSubject: two\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n" +
			"Content-Transfer-Encoding: quoted-printable\r\n\r\nThe quick brown fox jum=\r\nps over the wom=\r\nbat; caf=E9 cr=E8me\r\n",
		// 3: 8bit ISO-8859-1 and Shift_JIS parts of one multipart, and an
		// attachment whose bytes hold a needle BODY must not find.
		"From: c@example.org\r\nSubject: three\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n" +
			"--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + latin1 + "\r\n" +
			"--XX\r\nContent-Type: text/plain; charset=shift_jis\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + sjis + "\r\n" +
			"--XX\r\nContent-Type: application/octet-stream\r\n\r\naardvark in an attachment\r\n--XX--\r\n",
		// 4: words across a line break; a word only in a header field;
		// an encoded-word subject.
		"From: d@example.org\r\nSubject: =?ISO-8859-1?Q?=C9cole_d'=E9t=E9?=\r\nX-Note: okapi sighting\r\n\r\nthe end of a line\r\nstarts another line\r\n",
		// 5: an encapsulated message, its text part searched.
		"From: e@example.org\r\nSubject: five\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n" +
			"From: inner@example.org\r\nSubject: inner\r\n\r\nthe platypus hides inside\r\n",
	}
}

// ftsSearches are the searches compared, needles as literals ("\x00"
// marks where each goes), with the UIDs the RFC 9051 6.4.4 semantics
// give on ftsMessages.
var ftsSearches = []struct {
	crit    string
	needles []string
	want    string
}{
	{"BODY \x00", []string{"KANGAROO"}, "1"},
	{"BODY \x00", []string{"grüsse aus münchen"}, "1"},
	{"BODY \x00", []string{"jumps"}, "1 2"}, // 2: across a soft line break
	{"BODY \x00", []string{"wombat; café crème"}, "2"},
	{"BODY \x00", []string{"brûlée à la café"}, "3"},
	{"BODY \x00", []string{"テキスト"}, "3"},
	{"BODY \x00", []string{"aardvark"}, ""}, // in a non-text part
	{"BODY \x00", []string{"line\r\nstarts"}, "4"},
	{"BODY \x00", []string{"okapi"}, ""}, // header only
	{"TEXT \x00", []string{"okapi"}, "4"},
	{"TEXT \x00", []string{"X-NOTE: OKAPI"}, "4"},
	{"TEXT \x00", []string{"école d'été"}, "4"},
	{"BODY \x00", []string{"platypus"}, "5"},
	{"TEXT \x00", []string{"inner@example"}, ""}, // the matcher reads an inner message's text parts, not its header
	{"BODY \x00", []string{"é"}, "2 3"},          // 2 bytes: no trigram
	{"BODY \x00", []string{"ju"}, "1 2"},
	{"BODY \x00", []string{"nowhere at all"}, ""},
	{"OR BODY \x00 BODY \x00", []string{"platypus", "wombat"}, "2 5"},
	{"NOT BODY \x00", []string{"jumps"}, "3 4 5"},
	{"BODY \x00 NOT TEXT \x00", []string{"the", "fox"}, "1 4 5"},
	{"OR BODY \x00 SUBJECT \x00", []string{"platypus", "one"}, "1 5"},
	{"BODY \x00 BODY \x00", []string{"kangaroo", "wombat"}, ""},
}

// searchLiterals runs UID SEARCH CHARSET UTF-8 crit with each needle
// sent as a literal, and returns the UIDs found.
func searchLiterals(t *testing.T, c *testserver.Client, crit string, needles []string) string {
	t.Helper()
	var cmd strings.Builder
	cmd.WriteString("s UID SEARCH CHARSET UTF-8 ")
	parts := strings.Split(crit, "\x00")
	for i, p := range parts {
		cmd.WriteString(p)
		if i < len(needles) {
			fmt.Fprintf(&cmd, "{%d+}\r\n%s", len(needles[i]), needles[i])
		}
	}
	c.Write(cmd.String() + "\r\n")
	lines := c.ReadUntilTagged("s")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "s OK") {
		t.Fatalf("%q: %q", crit, lines)
	}
	return strings.TrimSpace(strings.TrimPrefix(lines[0], "* SEARCH"))
}

// TestSearchIndexSameAnswers: SEARCH BODY and TEXT answer through the
// index what the RFC's substring semantics give, and what a server
// without the index answers, on bodies in base64, quoted-printable,
// ISO-8859-1 and Shift_JIS, across soft and hard line breaks, with
// non-ASCII case folding, header-only words and needles under 3 bytes:
// on the first search (the index built), on the next (the index read),
// and after more messages arrived (the index caught up). The index must
// exist afterwards: the test fails where SEARCH reads every message.
func TestSearchIndexSameAnswers(t *testing.T) {
	idx := testserver.Start(t)
	scan := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) { c.NoSearchIndex = true }))
	ci, cs := idx.Login(t, idx.Alice), scan.Login(t, scan.Alice)
	msgs := ftsMessages(t)
	for _, m := range msgs[:3] {
		ci.Append("INBOX", m)
		cs.Append("INBOX", m)
	}
	ci.MustOK("SELECT INBOX")
	cs.MustOK("SELECT INBOX")
	check := func(round string, complete bool) {
		t.Helper()
		for _, s := range ftsSearches {
			got, want := searchLiterals(t, ci, s.crit, s.needles), searchLiterals(t, cs, s.crit, s.needles)
			if got != want {
				t.Errorf("%s: %q %q: indexed %q, unindexed %q", round, s.crit, s.needles, got, want)
			}
			if complete && got != s.want {
				t.Errorf("%s: %q %q: got %q, want %q", round, s.crit, s.needles, got, s.want)
			}
		}
	}
	check("first", false)
	check("second", false)
	for _, m := range msgs[3:] {
		ci.Append("INBOX", m)
		cs.Append("INBOX", m)
	}
	ci.MustOK("NOOP")
	cs.MustOK("NOOP")
	check("after appends", true)
	if segs := searchSegments(t, idx, "alice"); len(segs) == 0 {
		t.Fatal("no search index segments written")
	}
}

// searchSegments lists a user's search index segment files.
func searchSegments(t *testing.T, srv *testserver.Server, user string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(srv.DataDir, "users", user, "search", "*", "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// TestSearchIndexRebuilt: deleting the index, or cutting a segment
// short, loses nothing: the next search rebuilds it and answers the same.
func TestSearchIndexRebuilt(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	for i := range 30 {
		c.Append("INBOX", fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nbody of message %d with word%d\r\n", i, i, i%4))
	}
	c.MustOK("SELECT INBOX")
	const want = "2 6 10 14 18 22 26 30"
	if got := searchLiterals(t, c, "BODY \x00", []string{"WORD1"}); got != want {
		t.Fatalf("before: %q, want %q", got, want)
	}
	segs := searchSegments(t, srv, "alice")
	if len(segs) == 0 {
		t.Fatal("no index written")
	}
	if err := os.RemoveAll(filepath.Dir(segs[0])); err != nil {
		t.Fatal(err)
	}
	if got := searchLiterals(t, c, "BODY \x00", []string{"word1"}); got != want {
		t.Fatalf("after deleting the index: %q, want %q", got, want)
	}
	segs = searchSegments(t, srv, "alice")
	if len(segs) == 0 {
		t.Fatal("index not rebuilt")
	}
	for _, s := range segs {
		if err := os.Truncate(s, 50); err != nil {
			t.Fatal(err)
		}
	}
	if got := searchLiterals(t, c, "BODY \x00", []string{"word1"}); got != want {
		t.Fatalf("after truncating the index: %q, want %q", got, want)
	}
	// Garbage in the postings, which Open does not check: that search
	// reads every message, and the segment is replaced.
	segs = searchSegments(t, srv, "alice")
	if len(segs) == 0 {
		t.Fatal("index not rebuilt after truncation")
	}
	for _, s := range segs {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(data) / 3; i < len(data)*2/3; i++ {
			data[i] = 0xFF
		}
		if err := os.WriteFile(s, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := searchLiterals(t, c, "BODY \x00", []string{"word1"}); got != want {
		t.Fatalf("after garbling the postings: %q, want %q", got, want)
	}
	if got := searchLiterals(t, c, "BODY \x00", []string{"word1"}); got != want {
		t.Fatalf("the search after garbling the postings: %q, want %q", got, want)
	}
	for _, s := range searchSegments(t, srv, "alice") {
		if slices.Contains(segs, s) {
			t.Errorf("garbled segment %s kept", s)
		}
	}
}

// TestSearchIndexEveryAddPath: once a mailbox is indexed, a message that
// arrives by any path (APPEND, COPY, MOVE, a file another program writes
// into the Maildir) is found by the next BODY search. An add path the
// index missed would leave its message unfound.
func TestSearchIndexEveryAddPath(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.MustOK("CREATE Other")
	c.Append("INBOX", "Subject: first\r\n\r\nnothing special\r\n")
	c.Append("Other", "Subject: to copy\r\n\r\nthe copied narwhal\r\n")
	c.Append("Other", "Subject: to move\r\n\r\nthe moved narwhal\r\n")
	c.MustOK("SELECT INBOX")
	if got := searchLiterals(t, c, "BODY \x00", []string{"narwhal"}); got != "" {
		t.Fatalf("before: %q", got)
	}
	if len(searchSegments(t, srv, "alice")) == 0 {
		t.Fatal("no index written")
	}
	c.Append("INBOX", "Subject: appended\r\n\r\nthe appended narwhal\r\n") // UID 2
	srv.Deliver(t, "alice", "Subject: delivered\r\n\r\nthe delivered narwhal\r\n")
	c.Send("i IDLE")
	c.WaitFor(`^\* 3 EXISTS`) // UID 3
	c.Write("DONE\r\n")
	c.ReadUntilTagged("i")
	c.MustOK("SELECT Other")
	c.MustOK("UID COPY 1 INBOX") // UID 4
	c.MustOK("UID MOVE 2 INBOX") // UID 5
	c.MustOK("SELECT INBOX")
	if got := searchLiterals(t, c, "BODY \x00", []string{"NARWHAL"}); got != "2 3 4 5" {
		t.Fatalf("after adding by each path: %q, want 2 3 4 5", got)
	}
}

// TestSearchIndexConcurrent: sessions that search one mailbox at once,
// while messages arrive, each build and merge segments without a lock;
// every answer is still right, and so is the index they leave.
func TestSearchIndexConcurrent(t *testing.T) {
	srv := testserver.Start(t)
	setup := srv.Login(t, srv.Alice)
	for i := range 200 {
		setup.Append("INBOX", fmt.Sprintf("Subject: m%d\r\n\r\nmessage %d says %s\r\n", i, i, []string{"emu", "dingo"}[i%2]))
	}
	const searchers = 3
	errs := make(chan error, searchers)
	for range searchers {
		c := srv.Login(t, srv.Alice)
		c.MustOK("EXAMINE INBOX")
		go func() {
			for range 10 {
				// Conn's methods return errors: t.Fatal is for the test's
				// goroutine.
				lines, status, err := c.Conn.Run("SEARCH BODY dingo")
				if err != nil || !strings.HasPrefix(status, "OK") || len(lines) != 1 || len(strings.Fields(lines[0]))-2 != 100 {
					errs <- fmt.Errorf("SEARCH BODY dingo: %q %q %v", lines, status, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for i := range 20 {
		setup.Append("INBOX", fmt.Sprintf("Subject: late %d\r\n\r\na late wombat\r\n", i))
	}
	for range searchers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	setup.MustOK("SELECT INBOX")
	if got := searchLiterals(t, setup, "BODY \x00", []string{"wombat"}); len(strings.Fields(got)) != 20 {
		t.Fatalf("BODY wombat: %q, want the 20 late messages", got)
	}
	if got := searchLiterals(t, setup, "BODY \x00", []string{"dingo"}); len(strings.Fields(got)) != 100 {
		t.Fatalf("BODY dingo: %d hits, want 100", len(strings.Fields(got)))
	}
}

// TestSearchIndexNotBuiltForFewMessages: a BODY search confined to a few
// messages by a UID or sequence set reads those rather than index the
// whole mailbox first (a client searching its newest messages of a large
// mailbox must not wait for the build); a search over all of them builds
// the index, and confined searches use it from then on.
func TestSearchIndexNotBuiltForFewMessages(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	for i := range 30 {
		c.Append("INBOX", fmt.Sprintf("Subject: m%d\r\n\r\nbody %d of word%d\r\n", i, i, i%3))
	}
	c.MustOK("SELECT INBOX")
	if got := searchLiterals(t, c, "UID 20:* BODY \x00", []string{"word1"}); got != "20 23 26 29" {
		t.Fatalf("UID 20:* BODY word1: %q", got)
	}
	if got := searchLiterals(t, c, "OR 1:2 29:30 BODY \x00", []string{"word2"}); got != "30" {
		t.Fatalf("OR 1:2 29:30 BODY word2: %q", got)
	}
	if segs := searchSegments(t, srv, "alice"); len(segs) != 0 {
		t.Fatalf("index built for a search of a few messages: %v", segs)
	}
	if got := searchLiterals(t, c, "BODY \x00", []string{"word0"}); got != "1 4 7 10 13 16 19 22 25 28" {
		t.Fatalf("BODY word0: %q", got)
	}
	if segs := searchSegments(t, srv, "alice"); len(segs) == 0 {
		t.Fatal("no index after a search of every message")
	}
	if got := searchLiterals(t, c, "UID 20:* BODY \x00", []string{"word1"}); got != "20 23 26 29" {
		t.Fatalf("UID 20:* BODY word1 with the index: %q", got)
	}
}

// TestSearchIndexDeletedWithMailbox: DELETE takes the mailbox's search
// index with it, also when the mailbox stays as \Noselect for its
// children (its messages are gone), and removes an index whose mailbox
// the user's index no longer knows (left by a crash); the indexes of
// the other mailboxes stay and still answer.
func TestSearchIndexDeletedWithMailbox(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	for _, mbox := range []string{"Old", "Parent", "Parent/Child"} {
		c.MustOK("CREATE " + mbox)
	}
	for _, mbox := range []string{"INBOX", "Old", "Parent"} {
		for i := range 5 {
			c.Append(mbox, fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nthe wombat %d of %s\r\n", i, i, mbox))
		}
	}
	dirs := map[string]string{}
	for _, mbox := range []string{"INBOX", "Old", "Parent"} {
		before := searchIndexDirs(t, srv, "alice")
		c.MustOK("SELECT " + mbox)
		if got := searchLiterals(t, c, "BODY \x00", []string{"wombat 3"}); got != "4" {
			t.Fatalf("%s: BODY found %q, want 4", mbox, got)
		}
		for _, d := range searchIndexDirs(t, srv, "alice") {
			if !slices.Contains(before, d) {
				dirs[mbox] = d
			}
		}
		if dirs[mbox] == "" {
			t.Fatalf("%s: no search index written", mbox)
		}
	}
	orphan := filepath.Join(filepath.Dir(dirs["INBOX"]), "987654")
	if err := os.MkdirAll(orphan, 0o700); err != nil {
		t.Fatal(err)
	}
	c.MustOK("SELECT INBOX")
	c.MustOK("DELETE Old")
	c.MustOK("DELETE Parent")
	left := searchIndexDirs(t, srv, "alice")
	for _, gone := range []string{dirs["Old"], dirs["Parent"], orphan} {
		if slices.Contains(left, gone) {
			t.Errorf("%s left behind after DELETE (left: %v)", gone, left)
		}
	}
	if !slices.Contains(left, dirs["INBOX"]) {
		t.Errorf("INBOX's index %s removed (left: %v)", dirs["INBOX"], left)
	}
	if got := searchLiterals(t, c, "BODY \x00", []string{"wombat 2"}); got != "3" {
		t.Fatalf("INBOX after the DELETEs: BODY found %q, want 3", got)
	}
}

// searchIndexDirs lists user's search index directories.
func searchIndexDirs(t *testing.T, srv *testserver.Server, user string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(srv.DataDir, "users", user, "search", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}
