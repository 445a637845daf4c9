package imapserver_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/testserver"
)

// BenchmarkFetchEnvelope1000 measures FETCH 1:1000 (ENVELOPE) over a real
// loopback connection: parsing, reading 1,000 envelope headers (from the
// store's envelope cache after the first round), and writing the
// responses.
func BenchmarkFetchEnvelope1000(b *testing.B) {
	benchCommand1000(b, "f FETCH 1:1000 (ENVELOPE)", func(lines []string) bool {
		return len(lines) == 1001 && strings.HasPrefix(lines[1000], "f OK")
	})
}

// BenchmarkSearchSubject1000 measures SEARCH SUBJECT over 1,000 messages,
// one of which matches, answered from the store's envelope cache.
func BenchmarkSearchSubject1000(b *testing.B) {
	benchCommand1000(b, `f SEARCH SUBJECT "hello 777"`, func(lines []string) bool {
		return len(lines) == 2 && lines[0] == "* SEARCH 777"
	})
}

// benchCommand1000 runs cmd in a loop on an examined 1,000-message INBOX
// and fails when ok says its answer is wrong.
func benchCommand1000(b *testing.B, cmd string, ok func(lines []string) bool) {
	srv := testserver.Start(b)
	fill(b, srv, "INBOX", 1000)
	c := srv.Login(b, srv.Alice)
	c.Cmd("s1 EXAMINE INBOX")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if lines := c.Cmd(cmd); !ok(lines) {
			b.Fatalf("%s: %d lines, last %q", cmd, len(lines), lines[len(lines)-1])
		}
	}
}

// BenchmarkFetchBody200 measures FETCH 1:200 (UID BODY.PEEK[]) of
// messages delivered with bare LF line ends, 2-34 KiB, a quarter of them
// multipart: opening each file, the CRLF conversion and the literal
// writes, as in a syncing client's full pull.
func BenchmarkFetchBody200(b *testing.B) {
	srv := testserver.Start(b)
	c := srv.Login(b, srv.Alice)
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2) + "\n"
	for i := 0; i < 200; i++ {
		var m strings.Builder
		fmt.Fprintf(&m, "From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\nSubject: Body %d\nMessage-ID: <%d@example.org>\n", i, i)
		if i%4 == 0 {
			m.WriteString("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n")
		} else {
			m.WriteString("\n")
		}
		for j := 0; j < 20+i*3; j++ {
			m.WriteString(line)
		}
		if i%4 == 0 {
			m.WriteString("--b--\n")
		}
		srv.Deliver(b, srv.Alice.Name, m.String())
		time.Sleep(time.Millisecond) // distinct delivery names
	}
	c.Cmd("s1 EXAMINE INBOX")
	for try := 0; len(c.Cmd("f FETCH 200 UID")) != 2; try++ {
		if try == 200 {
			b.Fatal("delivered messages not seen")
		}
		time.Sleep(20 * time.Millisecond)
		c.Cmd("n NOOP")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		lines := c.Cmd("f FETCH 1:200 (UID BODY.PEEK[])")
		if len(lines) != 201 || !strings.HasPrefix(lines[200], "f OK") {
			b.Fatalf("FETCH: %d lines, last %q", len(lines), lines[len(lines)-1])
		}
	}
}
