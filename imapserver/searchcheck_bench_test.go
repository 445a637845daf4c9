//go:build unix

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

// BenchmarkSearchCheck measures the check of SEARCH BODY and TEXT: every
// message read, decoded and searched, as for a needle the index cannot
// narrow. The 10,000 messages have the shape of bench/compare's sync
// user (1-64 KiB of text from a 36-word vocabulary, one in eight
// multipart with a base64 attachment), so that "budget invoice" is in
// most of them, as in bench/compare's "SEARCH BODY (common)" row. The
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

// fixtureWords is bench/compare's vocabulary.
var fixtureWords = strings.Fields(`report meeting budget invoice schedule project review draft
release server backup deploy quarterly agenda notes summary update request contract
travel lunch design test failure success customer order shipping account security`)

// writeFixtureCorpus writes n messages shaped as bench/compare's
// fixture (its message function) into alice's INBOX of dataDir.
func writeFixtureCorpus(b *testing.B, n int, dataDir string) {
	b.Helper()
	md := filepath.Join(dataDir, "users", "alice", "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	var m strings.Builder
	w := func() string { return fixtureWords[rng.IntN(len(fixtureWords))] }
	text := func(n int) {
		col := 0
		for written := 0; written < n; {
			s := w()
			m.WriteString(s)
			written += len(s) + 1
			col += len(s) + 1
			if col > 68 {
				m.WriteByte('\n')
				col = 0
			} else {
				m.WriteByte(' ')
			}
		}
		m.WriteByte('\n')
	}
	for i := range n {
		m.Reset()
		date := base.Add(time.Duration(i) * time.Minute)
		fmt.Fprintf(&m, "Message-ID: <bench-%06d@example.org>\nDate: %s\n", i, date.Format(time.RFC1123Z))
		fmt.Fprintf(&m, "From: \"Sender %d\" <s%d@example.org>\nTo: reader@example.org\n", i%97, i%97)
		fmt.Fprintf(&m, "Subject: %s %s %s #%d\nMIME-Version: 1.0\n", w(), w(), w(), i)
		size := min(int(rng.ExpFloat64()*4000)+600, 64<<10)
		if i%8 != 0 {
			m.WriteString("Content-Type: text/plain; charset=utf-8\n\n")
			text(size)
		} else {
			m.WriteString("Content-Type: multipart/mixed; boundary=\"=-b\"\n\nThis is a MIME message.\n--=-b\n")
			m.WriteString("Content-Type: text/plain; charset=utf-8\n\n")
			text(size / 4)
			m.WriteString("--=-b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
			const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
			for k := 0; k < size; k += 77 {
				for range 76 {
					m.WriteByte(b64[rng.IntN(64)])
				}
				m.WriteByte('\n')
			}
			m.WriteString("--=-b--\n")
		}
		name := fmt.Sprintf("%d.M%dP1Q%d.bench:2,S", base.Unix()+int64(i), i, i)
		if err := os.WriteFile(filepath.Join(md, "cur", name), []byte(m.String()), 0o600); err != nil {
			b.Fatal(err)
		}
	}
}
