package imapserver_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// BenchmarkSearchBodyText measures SEARCH BODY and TEXT over a 10,000- and
// a 100,000-message INBOX, with the trigram index (kept up to date:
// built by a first search before the timing) and without it (every
// message read), for needles found in a few messages, in many, and in
// none. "after-append" times the first search after an APPEND, which
// indexes the new message. "build" times a first search that indexes the whole mailbox, and
// reports the index's bytes on disk per message. The messages are
// written into the Maildir directly (the store finds them at SELECT).
//
//	go test -run '^$' -bench 'SearchBodyText/^10000$' -benchtime 5x ./imapserver/
func BenchmarkSearchBodyText(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			if testing.Short() && n > 10_000 {
				b.Skip("short")
			}
			idx := testserver.Start(b)
			scan := testserver.Start(b, testserver.WithConfig(func(c *imapserver.Config) { c.NoSearchIndex = true }))
			writeSearchCorpus(b, n, idx.DataDir, scan.DataDir)
			ci, cs := idx.Login(b, idx.Alice), scan.Login(b, scan.Alice)
			// Building the index of 100,000 messages, or reading them all,
			// takes longer than a test's usual bound on a command.
			ci.Timeout, cs.Timeout = 10*time.Minute, 10*time.Minute
			ci.MustOK("EXAMINE INBOX")
			cs.MustOK("EXAMINE INBOX")
			dir := filepath.Join(idx.DataDir, "users", "alice", "search")
			b.Run("build", func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					if err := os.RemoveAll(dir); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					ci.MustOK("SEARCH BODY quokka")
				}
				var size int64
				filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
					if err == nil && !info.IsDir() {
						size += info.Size()
					}
					return nil
				})
				b.ReportMetric(float64(size)/float64(n), "index-bytes/msg")
			})
			for _, q := range searchBenchQueries(n) {
				for _, srv := range []struct {
					name string
					c    *testserver.Client
				}{{"index", ci}, {"scan", cs}} {
					b.Run(q.name+"/"+srv.name, func(b *testing.B) {
						for b.Loop() {
							lines := srv.c.MustOK(q.cmd)
							if got := len(strings.Fields(lines[0])) - 2; q.hits >= 0 && got != q.hits {
								b.Fatalf("%s: %d hits, want %d", q.cmd, got, q.hits)
							}
						}
					})
				}
			}
			// What indexing at search time adds to the first search
			// after a delivery: the new message indexed, a small segment
			// written, segments merged as they grow.
			b.Run("after-append/index", func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					ci.Append("INBOX", "Subject: new\r\n\r\nthe kangaroo has arrived\r\n")
					ci.MustOK("NOOP")
					b.StartTimer()
					if lines := ci.MustOK("SEARCH BODY quokka"); len(strings.Fields(lines[0]))-2 != n/1000 {
						b.Fatalf("SEARCH BODY quokka: %q", lines[0])
					}
				}
			})
		})
	}
}

// searchBenchQueries are the searches timed over n messages and their
// numbers of hits in writeSearchCorpus's messages (-1: not checked).
func searchBenchQueries(n int) []struct {
	name, cmd string
	hits      int
} {
	return []struct {
		name, cmd string
		hits      int
	}{
		{"TEXT-one", `SEARCH TEXT "<m0004242@bench"`, 1},
		{"BODY-rare", "SEARCH BODY quokka", n / 1000},
		{"BODY-1pc", "SEARCH BODY wallaby", n / 100},
		{"TEXT-none", `SEARCH TEXT "zebra crossing"`, 0},
		{"BODY-common", "SEARCH BODY " + searchWord(17), -1},
	}
}

// searchWord returns word i of a 20,000-word vocabulary of made-up words.
func searchWord(i int) string {
	syl := []string{"ka", "lo", "mi", "ren", "to", "sa", "vu", "ne", "dri", "pol", "gan", "es", "ur", "fi", "be", "mo"}
	var w strings.Builder
	for {
		w.WriteString(syl[i%len(syl)])
		i /= len(syl)
		if i == 0 {
			return w.String()
		}
	}
}

// writeSearchCorpus writes n messages into alice's INBOX of each data
// directory (hard links to the first's files): bodies of 100-1,000
// words drawn from a Zipf distribution over 20,000 words, one message in
// a thousand holding "quokka", one in a hundred "wallaby".
func writeSearchCorpus(b *testing.B, n int, dataDirs ...string) {
	b.Helper()
	curs := make([]string, len(dataDirs))
	for i, d := range dataDirs {
		md := filepath.Join(d, "users", "alice", "Maildir")
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
				b.Fatal(err)
			}
		}
		curs[i] = filepath.Join(md, "cur")
	}
	rng := rand.New(rand.NewPCG(23, 2026))
	zipf := rand.NewZipf(rng, 1.1, 2, 19_999)
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	var m strings.Builder
	for i := range n {
		m.Reset()
		fmt.Fprintf(&m, "From: \"Sender %d\" <s%d@example.org>\nTo: reader@example.org\nSubject: %s %s #%d\n",
			i%97, i%97, searchWord(int(zipf.Uint64())), searchWord(int(zipf.Uint64())), i)
		fmt.Fprintf(&m, "Date: %s\nMessage-ID: <m%07d@bench.example>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n",
			base.Add(time.Duration(i)*time.Minute).Format(time.RFC1123Z), i)
		words := 100 + rng.IntN(900)
		for w := range words {
			switch {
			case w == words/2 && i%1000 == 7:
				m.WriteString("quokka")
			case w == words/3 && i%100 == 3:
				m.WriteString("wallaby")
			default:
				m.WriteString(searchWord(int(zipf.Uint64())))
			}
			if w%12 == 11 {
				m.WriteByte('\n')
			} else {
				m.WriteByte(' ')
			}
		}
		m.WriteString("\n")
		name := fmt.Sprintf("%d.M%dP1Q%d.bench:2,S", base.Unix()+int64(i), i, i)
		first := filepath.Join(curs[0], name)
		if err := os.WriteFile(first, []byte(m.String()), 0o600); err != nil {
			b.Fatal(err)
		}
		for _, cur := range curs[1:] {
			if err := os.Link(first, filepath.Join(cur, name)); err != nil {
				b.Fatal(err)
			}
		}
	}
}
