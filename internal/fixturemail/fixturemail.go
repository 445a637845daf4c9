// Package fixturemail makes the synthetic messages of the benchmarks:
// bench/compare's fixture pool, and the Go benchmarks that want mail of
// the same shape (imapserver's BenchmarkSearchCheck), so that a figure
// of one speaks of the same mail as the other.
package fixturemail

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Words is the vocabulary of subjects and bodies: 36 words, so that two
// of them side by side ("budget invoice") are in most larger messages.
var Words = strings.Fields(`report meeting budget invoice schedule project review draft
release server backup deploy quarterly agenda notes summary update request contract
travel lunch design test failure success customer order shipping account security`)

// BaseTime is the Date of message 0; message i is i minutes later.
var BaseTime = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// NewRand returns the generator of bench/compare's pool: Message(r, i)
// for i = 0, 1, ... with it gives the pool's messages in order.
func NewRand() *rand.Rand { return rand.New(rand.NewPCG(4, 2026)) }

// Message returns message i: plain text, one in eight multipart with a
// base64 attachment, sizes from about 1 KiB to 64 KiB (most small), LF
// line ends. Its words and sizes come from rng, one message after the
// other.
func Message(rng *rand.Rand, i int) string {
	var b strings.Builder
	w := func() string { return Words[rng.IntN(len(Words))] }
	date := BaseTime.Add(time.Duration(i) * time.Minute)
	fmt.Fprintf(&b, "Return-Path: <s%d@example.org>\n", i%97)
	fmt.Fprintf(&b, "Message-ID: <bench-%06d@example.org>\n", i)
	fmt.Fprintf(&b, "Date: %s\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: \"Sender %d\" <s%d@example.org>\n", i%97, i%97)
	fmt.Fprintf(&b, "To: \"Reader\" <reader@example.org>, team%d@example.org\n", i%7)
	if i%4 == 0 {
		fmt.Fprintf(&b, "Cc: \"Boss %d\" <boss%d@example.com>\n", i%5, i%5)
	}
	fmt.Fprintf(&b, "Subject: %s %s %s #%d\n", w(), w(), w(), i)
	b.WriteString("MIME-Version: 1.0\n")
	// Body length: exponential-ish, median ~3 KiB, capped at 64 KiB.
	size := min(int(rng.ExpFloat64()*4000)+600, 64<<10)
	text := func(n int) {
		col := 0
		for written := 0; written < n; {
			s := w()
			b.WriteString(s)
			written += len(s) + 1
			col += len(s) + 1
			if col > 68 {
				b.WriteByte('\n')
				col = 0
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	if i%8 != 0 {
		b.WriteString("Content-Type: text/plain; charset=utf-8\n\n")
		text(size)
		return b.String()
	}
	b.WriteString("Content-Type: multipart/mixed; boundary=\"=-b\"\n\nThis is a MIME message.\n--=-b\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\n\n")
	text(size / 4)
	b.WriteString("--=-b\nContent-Type: application/octet-stream; name=\"data.bin\"\nContent-Disposition: attachment; filename=\"data.bin\"\nContent-Transfer-Encoding: base64\n\n")
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for n := 0; n < size; n += 77 {
		for range 76 {
			b.WriteByte(b64[rng.IntN(64)])
		}
		b.WriteByte('\n')
	}
	b.WriteString("--=-b--\n")
	return b.String()
}
