//go:build unix

package imapserver_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/fixturemail"
	"github.com/dormouse/dormouse/internal/testserver"
)

// BenchmarkSearchCheck measures the check of SEARCH BODY and TEXT: every
// message read, decoded and searched, as for a needle the index cannot
// narrow. The 10,000 messages are bench/compare's sync user's (1-64 KiB
// of text from a 36-word vocabulary, one in eight multipart with a
// base64 attachment), so that "budget invoice" is in most of them, as in
// bench/compare's "SEARCH BODY (common)" row. The
// server has no index (NoSearchIndex): each search checks every message.
// cpu-ms/op is the test process's CPU per search (server and client).
//
//	go test -run '^$' -bench 'SearchCheck' -benchtime 5x ./imapserver/
func BenchmarkSearchCheck(b *testing.B) {
	const n = 10_000
	srv := testserver.Start(b, testserver.WithConfig(func(c *imapserver.Config) { c.NoSearchIndex = true }))
	writeFixtureCorpus(b, n, srv.DataDir)
	c := srv.Login(b, srv.Alice)
	c.Timeout = 10 * time.Minute
	c.MustOK("EXAMINE INBOX")
	for _, q := range []struct{ name, cmd string }{
		{"BODY-common", `SEARCH BODY "budget invoice"`},
		{"BODY-none", `SEARCH BODY "zebra crossing"`},
		{"TEXT-none", `SEARCH TEXT "zebra crossing"`},
	} {
		b.Run(q.name, func(b *testing.B) {
			start := processCPU(b)
			for b.Loop() {
				c.MustOK(q.cmd)
			}
			// The process's CPU (server and client), which a shared
			// machine inflates less than the time.
			b.ReportMetric(float64(processCPU(b)-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}

// writeFixtureCorpus writes the first n messages of bench/compare's
// fixture pool (internal/fixturemail, which makes both) into alice's
// INBOX of dataDir, seen.
func writeFixtureCorpus(b *testing.B, n int, dataDir string) {
	b.Helper()
	md := filepath.Join(dataDir, "users", "alice", "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	rng := fixturemail.NewRand()
	for i := range n {
		name := fmt.Sprintf("%d.M%dP1Q%d.bench:2,S", fixturemail.BaseTime.Unix()+int64(i), i, i)
		if err := os.WriteFile(filepath.Join(md, "cur", name), []byte(fixturemail.Message(rng, i)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
}
