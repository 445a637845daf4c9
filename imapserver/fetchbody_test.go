package imapserver_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestFetchWholeBody fetches whole messages and their header fields, the
// items served without parsing the MIME structure, from messages with
// CRLF and with bare LF line ends, and checks every byte against the
// message as the client must see it (CRLF line ends).
func TestFetchWholeBody(t *testing.T) {
	srv := testserver.Start(t)
	multipart := "From: Carol <carol@example.org>\nSubject: Parts\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\n\npreamble\n--b\nContent-Type: text/plain\n\nfirst\r\n--b\n" +
		"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" +
		strings.Repeat(strings.Repeat("QUJD", 19)+"\n", 1500) + "--b--\n"
	msgs := []string{
		testMessage(1), // appended: stored with CRLF
		"From: Dan <dan@example.org>\nSubject: Bare LF\nX-Other: yes\n\nline one\nline two\r\n\n", // delivered as is
		multipart, // delivered, bare LF, larger than a conversion checkpoint
	}
	c := srv.Login(t, srv.Alice)
	appendMsg(t, c, "INBOX", "", msgs[0])
	srv.Deliver(t, srv.Alice.Name, msgs[1])
	time.Sleep(2 * time.Millisecond) // distinct delivery names, in order
	srv.Deliver(t, srv.Alice.Name, msgs[2])
	c.Cmd("s SELECT INBOX")
	testserver.WaitFor(t, "the delivered messages are seen", func() bool {
		c.Cmd("n NOOP")
		return len(c.Cmd("f FETCH 3 UID")) == 2
	})

	for i, raw := range msgs {
		seq := i + 1
		want := strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
		L := len(want)
		hdr, _, _ := strings.Cut(want, "\r\n\r\n")
		var subject, notSubject string
		for _, f := range strings.Split(hdr, "\r\n") {
			if strings.HasPrefix(f, "Subject:") {
				subject += f + "\r\n"
			} else {
				notSubject += f + "\r\n"
			}
		}
		lit := func(s string) string { return fmt.Sprintf("{%d}\r\n%s", len(s), s) }
		tests := []struct{ items, want string }{
			{"BODY.PEEK[]", "BODY[] " + lit(want)},
			{"BODY.PEEK[]<7.30>", "BODY[]<7> " + lit(want[7:37])},
			{fmt.Sprintf("BODY.PEEK[]<%d.100>", L-3), fmt.Sprintf("BODY[]<%d> %s", L-3, lit(want[L-3:]))},
			{fmt.Sprintf("BODY.PEEK[]<%d.10>", L+5), fmt.Sprintf("BODY[]<%d> {0}\r\n", L+5)},
			{"BODY.PEEK[] BODY.PEEK[]<2.3>", "BODY[] " + lit(want) + " BODY[]<2> " + lit(want[2:5])},
			{"UID RFC822.SIZE BODY.PEEK[]", fmt.Sprintf("UID %d RFC822.SIZE %d BODY[] %s", seq, L, lit(want))},
			{"BODY.PEEK[HEADER.FIELDS (Subject)]", "BODY[HEADER.FIELDS (Subject)] " + lit(subject+"\r\n")},
			{"BODY.PEEK[HEADER.FIELDS.NOT (Subject)]", "BODY[HEADER.FIELDS.NOT (Subject)] " + lit(notSubject+"\r\n")},
			{"BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[]", "BODY[HEADER.FIELDS (Subject)] " + lit(subject+"\r\n") + " BODY[] " + lit(want)},
			{"BODY.PEEK[TEXT]", "BODY[TEXT] " + lit(want[len(hdr)+4:])},
		}
		if L > 70100 {
			tests = append(tests, struct{ items, want string }{"BODY.PEEK[]<70000.100>", "BODY[]<70000> " + lit(want[70000:70100])})
		}
		for _, tc := range tests {
			lines := c.Cmd(fmt.Sprintf("f FETCH %d (%s)", seq, tc.items))
			exp := fmt.Sprintf("* %d FETCH (%s)", seq, tc.want)
			if len(lines) != 2 || lines[0] != exp || !strings.HasPrefix(lines[1], "f OK") {
				t.Errorf("message %d, FETCH (%s):\n got %.300q\nwant %.300q", seq, tc.items, lines, exp)
			}
		}
		// With ENVELOPE (from the store's envelope headers, which are not
		// the whole header) and BODYSTRUCTURE (all parsed).
		for _, tc := range []struct{ items, suffix string }{
			{"ENVELOPE BODY.PEEK[]", " BODY[] " + lit(want) + ")"},
			{"BODYSTRUCTURE BODY.PEEK[]", " BODY[] " + lit(want) + ")"},
			{"ENVELOPE BODY.PEEK[HEADER.FIELDS.NOT (Subject)]", " BODY[HEADER.FIELDS.NOT (Subject)] " + lit(notSubject+"\r\n") + ")"},
		} {
			lines := c.Cmd(fmt.Sprintf("f FETCH %d (%s)", seq, tc.items))
			if len(lines) != 2 || !strings.HasPrefix(lines[0], fmt.Sprintf("* %d FETCH (", seq)) || !strings.HasSuffix(lines[0], tc.suffix) {
				t.Errorf("message %d, FETCH (%s):\n got %.300q\nwant suffix %.300q", seq, tc.items, lines, tc.suffix)
			}
		}
		// RFC822 sets \Seen and says so.
		lines := c.Cmd(fmt.Sprintf("f FETCH %d RFC822", seq))
		exp := fmt.Sprintf("* %d FETCH (RFC822 %s FLAGS (\\Seen", seq, lit(want))
		if len(lines) != 2 || !strings.HasPrefix(lines[0], exp) {
			t.Errorf("message %d, FETCH RFC822:\n got %.300q\nwant prefix %.300q", seq, lines, exp)
		}
	}
}
