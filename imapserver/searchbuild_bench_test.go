//go:build unix

package imapserver_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/fixturemail"
	"github.com/dormouse/dormouse/internal/testserver"
)

// BenchmarkSearchDuringBuild is bench/compare's "first search of
// 100,000 messages while the build has just started" in one process: a
// server opens a mailbox of n small thread-shaped messages (the compare
// tool's sorter user), EXAMINE queues the background build of its
// search index, and the search follows at once. first-ms is that
// search's wall time; build-cpu-ms the process's CPU from EXAMINE's
// answer to the end of the build (Config.JobDone) when no search comes,
// the build's own cost.
//
//	go test -run '^$' -bench 'SearchDuringBuild' -benchtime 3x ./imapserver/
func BenchmarkSearchDuringBuild(b *testing.B) {
	const n = 100_000
	corpus := filepath.Join(b.TempDir(), "Maildir")
	writeSmallCorpus(b, n, corpus)
	// examined starts a server on a copy of corpus and EXAMINEs it,
	// which queues the build; done is told when the build ends.
	examined := func(b *testing.B) (srv *testserver.Server, c *testserver.Client, done chan struct{}) {
		b.StopTimer()
		defer b.StartTimer()
		done = make(chan struct{}, 1)
		srv = testserver.Start(b, testserver.WithConfig(func(c *imapserver.Config) {
			c.JobDone = func() { done <- struct{}{} }
		}))
		linkMaildir(b, corpus, filepath.Join(srv.DataDir, "users", "alice", "Maildir"))
		c = srv.Login(b, srv.Alice)
		c.Timeout = 10 * time.Minute
		c.MustOK("EXAMINE INBOX")
		return srv, c, done
	}
	b.Run("first-search", func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			srv, c, done := examined(b)
			t := time.Now()
			c.MustOK(`SEARCH TEXT "4242@"`)
			total += time.Since(t)
			b.StopTimer()
			<-done
			srv.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "first-ms")
	})
	b.Run("build", func(b *testing.B) {
		var cpu time.Duration
		for b.Loop() {
			srv, _, done := examined(b)
			t := processCPU(b)
			<-done
			cpu += processCPU(b) - t
			b.StopTimer()
			srv.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "build-cpu-ms")
	})
}

// writeSmallCorpus writes n small messages shaped as bench/compare's
// sorter user (threads of Message-IDs and References, a few lines of
// fixturemail.Words) into the Maildir md: "4242@" is in the Message-ID or
// References of a few of them.
func writeSmallCorpus(b *testing.B, n int, md string) {
	b.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	threads := fixturemail.NewThreads(rand.New(rand.NewPCG(7, 2026)))
	for i := range n {
		name := fmt.Sprintf("%d.S%dP1Q%d.bench:2,S", fixturemail.BaseTime.Unix()+int64(i), i, i)
		if err := os.WriteFile(filepath.Join(md, "cur", name), []byte(threads.Next(i)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// linkMaildir makes dst a Maildir of hard links to src's message files.
func linkMaildir(b *testing.B, src, dst string) {
	b.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dst, sub), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	ents, err := os.ReadDir(filepath.Join(src, "cur"))
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Link(filepath.Join(src, "cur", e.Name()), filepath.Join(dst, "cur", e.Name())); err != nil {
			b.Fatal(err)
		}
	}
}
