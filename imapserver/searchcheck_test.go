package imapserver_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// checkCorpusMessage returns message i of TestSearchCheckManyMessages's
// mailbox and where it holds "Okapi": in a text part's body (found by
// BODY and TEXT), in the header only (TEXT), or in neither (it may
// still be inside a base64 attachment, where neither looks).
func checkCorpusMessage(i int) (msg string, inBody, inHeader bool) {
	subject := "note " + strconv.Itoa(i)
	if i%7 == 0 {
		subject, inHeader = "about the okapi", true
	}
	h := "From: a@example.org\r\nSubject: " + subject + "\r\nMIME-Version: 1.0\r\n"
	filler := strings.Repeat("plain words of a message, nothing striped\r\n", 1+i%50)
	switch {
	case i%3 == 0:
		return h + "Content-Type: text/plain\r\n\r\n" + filler + "an OKAPI here\r\n", true, inHeader
	case i%5 == 0:
		// Quoted-printable: "okapi" only once decoded.
		return h + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			filler + "an =4Fk=\r\napi, caf=C3=A9\r\n", true, inHeader
	case i%11 == 0:
		// In an attachment only, base64 of "okapi okapi".
		return h + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n" + filler +
			"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nb2thcGkgb2thcGk=\r\n--b--\r\n", false, inHeader
	case i%13 == 0:
		// Larger than a search reads whole: read through a reader.
		big := strings.Repeat("x", 80) + "\r\n"
		return h + "Content-Type: text/plain\r\n\r\n" + strings.Repeat(big, 14_000) + "okapi at the end\r\n", true, inHeader
	}
	return h + "Content-Type: text/plain\r\n\r\n" + filler, false, inHeader
}

// TestSearchCheckManyMessages: SEARCH BODY and TEXT over a mailbox of
// 600 messages, enough that the check runs on several goroutines,
// with and without the search index, alone and combined with other
// keys, answer exactly the messages that hold the needle, in order:
// in plain and quoted-printable text, not in a base64 attachment, TEXT
// but not BODY in the header, in messages read whole and in one read
// through a reader.
func TestSearchCheckManyMessages(t *testing.T) {
	const n = 600
	for _, noIndex := range []bool{true, false} {
		t.Run(fmt.Sprintf("no-index=%v", noIndex), func(t *testing.T) {
			srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) { c.NoSearchIndex = noIndex }))
			body, text, flagged := writeCheckCorpus(t, srv, n)
			all := make([]int, n)
			for i := range all {
				all[i] = i + 1
			}
			c := srv.Login(t, srv.Alice)
			c.MustOK("EXAMINE INBOX")
			for _, q := range []struct {
				cmd  string
				want []int
			}{
				{`SEARCH BODY okapi`, body},
				{`SEARCH TEXT "OKAPI"`, text},
				{`SEARCH OR BODY okapi FLAGGED`, union(body, flagged)},
				{`SEARCH NOT BODY okapi`, minus(all, body)},
				{`SEARCH FLAGGED BODY okapi`, intersect(body, flagged)},
				{`SEARCH BODY "an okapi" BODY here`, filter(body, func(s int) bool { return (s-1)%3 == 0 })},
				{`SEARCH BODY zebra`, nil},
			} {
				lines := c.MustOK(q.cmd)
				if got, want := lines[0], "* SEARCH"+seqList(q.want); got != want {
					t.Errorf("%s:\n got %.300s\nwant %.300s", q.cmd, got, want)
				}
			}
		})
	}
}

// writeCheckCorpus writes the n messages of checkCorpusMessage into
// alice's INBOX, one in four \Flagged, and returns the sequence numbers
// of those whose body holds "okapi", of those whose header or body does,
// and of the flagged ones.
func writeCheckCorpus(t *testing.T, srv *testserver.Server, n int) (body, text, flagged []int) {
	t.Helper()
	md := filepath.Join(srv.DataDir, "users", "alice", "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		msg, inBody, inHeader := checkCorpusMessage(i)
		flags := ""
		if i%4 == 1 {
			flags = "F"
			flagged = append(flagged, i+1)
		}
		name := fmt.Sprintf("%d.M%dP1Q%d.test:2,%s", 1_700_000_000+i, i, i, flags)
		if err := os.WriteFile(filepath.Join(md, "cur", name), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		if inBody {
			body = append(body, i+1)
		}
		if inBody || inHeader {
			text = append(text, i+1)
		}
	}
	return body, text, flagged
}

// TestSearchCheckStopsWhenClientLeaves: a client that closes its
// connection while SEARCH BODY's check runs on several goroutines is
// seen by the connection's goroutine, which stops the check and counts
// the interruption; the server serves the next client.
func TestSearchCheckStopsWhenClientLeaves(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) { c.NoSearchIndex = true }))
	writeCheckCorpus(t, srv, 600)
	leaveAtFirstStep(t, srv, selectInbox(t, srv), `s1 SEARCH BODY "not in any message"`)
	c2 := srv.Login(t, srv.Alice)
	c2.MustOK("EXAMINE INBOX")
	if lines := c2.MustOK(`SEARCH BODY okapi TEXT "an okapi here"`); !strings.HasPrefix(lines[0], "* SEARCH 1 4 ") {
		t.Fatalf("the next search: %.100q", lines[0])
	}
}

func seqList(seqs []int) string {
	var b strings.Builder
	for _, s := range seqs {
		b.WriteString(" " + strconv.Itoa(s))
	}
	return b.String()
}

func union(a, b []int) []int {
	u := slices.Concat(a, b)
	slices.Sort(u)
	return slices.Compact(u)
}

func minus(a, b []int) []int {
	return filter(a, func(s int) bool { return !slices.Contains(b, s) })
}

func intersect(a, b []int) []int {
	return filter(a, func(s int) bool { return slices.Contains(b, s) })
}

func filter(a []int, keep func(int) bool) []int {
	var out []int
	for _, s := range a {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}
