package imapserver_test

import (
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// BenchmarkFetchEnvelope1000 measures FETCH 1:1000 (ENVELOPE) over a real
// loopback connection: parsing, reading 1,000 envelope headers (from the
// store's envelope cache after the first round), and writing the
// responses.
func BenchmarkFetchEnvelope1000(b *testing.B) {
	srv := testserver.Start(b)
	fill(b, srv, "INBOX", 1000)
	c := srv.Login(b, srv.Alice)
	c.Cmd("s1 EXAMINE INBOX")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		lines := c.Cmd("f FETCH 1:1000 (ENVELOPE)")
		if len(lines) != 1001 || !strings.HasPrefix(lines[1000], "f OK") {
			b.Fatalf("FETCH: %d lines, last %q", len(lines), lines[len(lines)-1])
		}
	}
}

// BenchmarkSearchSubject1000 measures SEARCH SUBJECT over 1,000 messages,
// one of which matches, answered from the store's envelope cache.
func BenchmarkSearchSubject1000(b *testing.B) {
	srv := testserver.Start(b)
	fill(b, srv, "INBOX", 1000)
	c := srv.Login(b, srv.Alice)
	c.Cmd("s1 EXAMINE INBOX")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		lines := c.Cmd(`f SEARCH SUBJECT "hello 777"`)
		if len(lines) != 2 || lines[0] != "* SEARCH 777" {
			b.Fatalf("SEARCH: %q", lines)
		}
	}
}
