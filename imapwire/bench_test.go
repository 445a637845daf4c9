package imapwire

import (
	"bufio"
	"strconv"
	"testing"
)

// appendCommand returns an APPEND of msg with a synchronizing literal.
func appendCommand(msg string) string {
	return "a4 APPEND INBOX (\\Seen) {" + strconv.Itoa(len(msg)) + "}\r\n" + msg + "\r\n"
}

// loopReader repeats b forever, so one Decoder parses the same command
// again and again and its per-command cost shows.
type loopReader struct {
	b []byte
	i int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.i:])
		n += c
		r.i = (r.i + c) % len(r.b)
	}
	return n, nil
}

var benchCommands = []struct{ name, in string }{
	{"UIDFetchFlags", "a1 UID FETCH 1:* (FLAGS)\r\n"},
	{"UIDFetchHeaderFields", "a2 UID FETCH 1:200 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n"},
	{"SearchKeys", "a3 UID SEARCH RETURN (ALL) UNDELETED UNSEEN FROM \"smith@example.com\" SINCE 1-Feb-2024 OR FLAGGED (LARGER 10000 SMALLER 50000)\r\n"},
	{"AppendSmall", appendCommand("From: a@example.com\r\nTo: b@example.com\r\nSubject: hello\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello there, this is a short message body used to measure APPEND parsing cost.\r\nBye.\r\n")},
	{"Store", "a5 UID STORE 1:100 +FLAGS.SILENT (\\Seen \\Flagged)\r\n"},
	{"Login", "a6 LOGIN \"joe@example.com\" \"correct horse battery staple\"\r\n"},
	{"Noop", "a7 NOOP\r\n"},
}

func BenchmarkReadCommand(b *testing.B) {
	for _, bc := range benchCommands {
		b.Run(bc.name, func(b *testing.B) {
			d := NewDecoder(bufio.NewReader(&loopReader{b: []byte(bc.in)}), DecoderOptions{Continue: func(int64) error { return nil }})
			if _, err := d.ReadCommand(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.ReadCommand(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIdleDone(b *testing.B) {
	d := NewDecoder(bufio.NewReader(&loopReader{b: []byte("a8 IDLE\r\nDONE\r\n")}), DecoderOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.ReadCommand(); err != nil {
			b.Fatal(err)
		}
		if l, err := d.ReadLine(); err != nil || string(l) != "DONE" {
			b.Fatal(l, err)
		}
	}
}
