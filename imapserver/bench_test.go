package imapserver_test

import (
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// BenchmarkFetchEnvelope1000 measures FETCH 1:1000 (ENVELOPE) over a real
// loopback connection: parsing, reading 1,000 message headers from the
// Maildir, and writing the responses.
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
