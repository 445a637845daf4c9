package imapserver_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// BenchmarkSort5000 measures SORT and THREAD over a 5,000-message INBOX
// whose headers are in the envelope cache (after the first round): the
// search, reading 5,000 envelope headers, extracting the keys and
// sorting or threading. bench/compare has the side-by-side figures at
// 100,000 messages.
func BenchmarkSort5000(b *testing.B) {
	srv := testserver.Start(b)
	c := srv.Login(b, srv.Alice)
	c.Send("ap0 APPEND INBOX {1}")
	c.ReadLine()
	c.Write("x\r\n")
	c.ReadUntilTagged("ap0")
	for i := range 5000 {
		refs := ""
		if i%3 != 0 {
			refs = fmt.Sprintf("In-Reply-To: <%d@b>\r\nReferences: <%d@b> <%d@b>\r\n", i/3, i/9, i/3)
		}
		msg := fmt.Sprintf("From: \"Person %d\" <p%d@example.org>\r\nTo: r@example.org\r\nSubject: Re: topic %d\r\n"+
			"Date: Mon, 02 Jan 2006 15:%02d:05 -0700\r\nMessage-ID: <%d@b>\r\n%s\r\nbody\r\n", i%400, i%400, i/3, i%60, i, refs)
		c.Send(fmt.Sprintf("ap APPEND INBOX {%d+}", len(msg)))
		c.Write(msg + "\r\n")
		c.ReadUntilTagged("ap")
	}
	c.Cmd("s1 EXAMINE INBOX")
	for _, cmd := range []string{"SORT (DATE) UTF-8 ALL", "SORT (SUBJECT) UTF-8 ALL", "SORT (FROM) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL"} {
		b.Run(strings.Fields(cmd)[1], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if lines := c.Cmd("f " + cmd); len(lines) != 2 || !strings.HasPrefix(lines[1], "f OK") {
					b.Fatalf("%s: %q", cmd, lines)
				}
			}
		})
	}
}
