package lmtp

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// lmtpClient speaks LMTP line by line over a real socket, for transcript
// tests: what goes out is exactly what the test wrote.
type lmtpClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialLMTP(t *testing.T, addr string) *lmtpClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(time.Minute))
	c := &lmtpClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	c.expect("220")
	c.cmd("LHLO mta.test", "250")
	return c
}

// reply reads one reply, multi-line or not, and returns its last line.
func (c *lmtpClient) reply() string {
	c.t.Helper()
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

// expect reads one reply and checks that it starts with want.
func (c *lmtpClient) expect(want string) string {
	c.t.Helper()
	got := c.reply()
	if !strings.HasPrefix(got, want) {
		c.t.Fatalf("reply %q, want %q...", got, want)
	}
	return got
}

func (c *lmtpClient) send(line string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends a command line and checks its reply.
func (c *lmtpClient) cmd(line, want string) string {
	c.t.Helper()
	c.send(line)
	return c.expect(want)
}

// data sends DATA and the message and returns the n per-recipient replies.
func (c *lmtpClient) data(body string, n int) []string {
	c.t.Helper()
	c.cmd("DATA", "354")
	c.send(strings.TrimSuffix(body, "\r\n") + "\r\n.")
	var out []string
	for range n {
		out = append(out, c.reply())
	}
	return out
}

func allCode(replies []string, code string) bool {
	for _, r := range replies {
		if !strings.HasPrefix(r, code) {
			return false
		}
	}
	return len(replies) > 0
}

// TestRecipientTranscripts: recipient case, plus
// addressing with and without detail mailboxes (finding 3) and bare local
// parts (finding 5), each a transcript over a real socket.
func TestRecipientTranscripts(t *testing.T) {
	type want struct{ user, mailbox string }
	tests := []struct {
		name   string
		detail bool // SaveToDetailMailbox
		rcpt   string
		reply  string
		stored want
	}{
		{"upper case", false, "<ALICE@example.org>", "250", want{"alice", "INBOX"}},
		{"mixed case", false, "<aLiCe@Example.ORG>", "250", want{"alice", "INBOX"}},
		{"plus detail, detail off", false, "<alice+Spam@example.org>", "250", want{"alice", "INBOX"}},
		{"plus detail into its mailbox", true, "<alice+Spam@example.org>", "250", want{"alice", "Spam"}},
		{"plus detail, upper-case user", true, "<ALICE+Spam@example.org>", "250", want{"alice", "Spam"}},
		{"plus detail, no such mailbox", true, "<alice+Nope@example.org>", "250", want{"alice", "INBOX"}},
		{"plus, empty detail", true, "<alice+@example.org>", "250", want{"alice", "INBOX"}},
		{"plus on unknown user", true, "<carol+Spam@example.org>", "550", want{}},
		{"user with a plus in its name", true, "<dave+x@example.org>", "250", want{"dave+x", "INBOX"}},
		{"bare local part", false, "<alice>", "250", want{"alice", "INBOX"}},
		{"bare local part, case and detail", true, "<Alice+Spam>", "250", want{"alice", "Spam"}},
		{"bare unknown local part", false, "<carol>", "550", want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, users{"alice": true, "dave+x": true}, nil, func(c *Config) {
				c.RecipientDelimiter = "+"
				c.SaveToDetailMailbox = tt.detail
			})
			u, err := f.store.User(context.Background(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			if err := u.CreateMailbox(context.Background(), "Spam", ""); err != nil {
				t.Fatal(err)
			}
			u.Close()

			c := dialLMTP(t, f.addr)
			c.cmd("MAIL FROM:<sender@example.org>", "250")
			c.cmd("RCPT TO:"+tt.rcpt, tt.reply)
			if tt.reply != "250" {
				return
			}
			if r := c.data(msg, 1); !allCode(r, "250") {
				t.Fatalf("DATA replies %q", r)
			}
			for _, box := range []want{{"alice", "INBOX"}, {"alice", "Spam"}, {"dave+x", "INBOX"}} {
				n := len(f.messages(t, box.user, box.mailbox))
				if wantN := map[bool]int{true: 1}[box == tt.stored]; n != wantN {
					t.Errorf("%s/%s has %d messages, want %d", box.user, box.mailbox, n, wantN)
				}
			}
		})
	}
}

// TestBareLocalPartLeavesDataAlone: a message whose body holds a line like
// a bare RCPT command is stored byte for byte.
func TestBareLocalPartLeavesDataAlone(t *testing.T) {
	f := start(t, users{"alice": true}, nil)
	body := "Subject: look\r\n\r\nRCPT TO:<alice>\r\nrcpt to:<bob>\r\n"
	c := dialLMTP(t, f.addr)
	c.cmd("MAIL FROM:<sender@example.org>", "250")
	c.cmd("RCPT TO:<alice>", "250")
	if r := c.data(body, 1); !allCode(r, "250") {
		t.Fatalf("DATA replies %q", r)
	}
	// The session goes on in command mode after the data.
	c.cmd("MAIL FROM:<sender@example.org>", "250")
	c.cmd("RCPT TO:<alice>", "250")
	if r := c.data(body, 1); !allCode(r, "250") {
		t.Fatalf("second DATA replies %q", r)
	}
	got := f.inbox(t, "alice")
	if len(got) != 2 {
		t.Fatalf("alice has %d messages, want 2", len(got))
	}
	for _, m := range got {
		if !strings.HasSuffix(m, body) {
			t.Errorf("stored %q, want it to end with %q", m, body)
		}
	}
}

// TestDuplicateRecipients: one transaction naming a user 1,000 times, in one spelling or several, stores one copy; every
// RCPT gets 250 and a reply after DATA, as RFC 2033 requires.
func TestDuplicateRecipients(t *testing.T) {
	tests := []struct {
		name  string
		rcpts func(i int) string
	}{
		{"same address", func(int) string { return "<alice@example.org>" }},
		{"case and detail variants", func(i int) string {
			return []string{"<alice@example.org>", "<ALICE@example.org>", "<alice+x@example.org>", "<alice>"}[i%4]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, users{"alice": true, "bob": true}, nil, func(c *Config) { c.RecipientDelimiter = "+" })
			c := dialLMTP(t, f.addr)
			c.cmd("MAIL FROM:<sender@example.org>", "250")
			const n = 1000
			for i := range n - 1 {
				c.cmd("RCPT TO:"+tt.rcpts(i), "250")
			}
			c.cmd("RCPT TO:<bob@example.org>", "250")
			r := c.data(msg, n)
			if !allCode(r, "250") {
				t.Fatalf("DATA replies: %d, not all 250: %q...", len(r), r[:3])
			}
			if got := len(f.inbox(t, "alice")); got != 1 {
				t.Errorf("alice has %d copies, want 1", got)
			}
			if got := len(f.inbox(t, "bob")); got != 1 {
				t.Errorf("bob has %d copies, want 1", got)
			}
		})
	}
}

// TestResolve covers the order of Resolve's candidates.
func TestResolve(t *testing.T) {
	dir := users{"alice": true, "bob@example.org": true, "bob": true, "a+b": true}
	tests := []struct {
		addr, delims string
		want         Recipient
		ok           bool
	}{
		{"alice@x.test", "+", Recipient{"alice", ""}, true},
		{"alice+d@x.test", "+", Recipient{"alice", "d"}, true},
		{"alice-d@x.test", "+-", Recipient{"alice", "d"}, true},
		{"alice+d@x.test", "", Recipient{}, false},
		{"bob+d@example.org", "+", Recipient{"bob@example.org", "d"}, true},
		{"BOB+d@elsewhere", "+", Recipient{"bob", "d"}, true},
		{"a+b@x", "+", Recipient{"a+b", ""}, true},
		{"a+c@x", "+", Recipient{}, false},
		{"+alice@x", "+", Recipient{}, false},
		{"alice", "+", Recipient{"alice", ""}, true},
	}
	for _, tt := range tests {
		got, ok, err := Resolve(dir, tt.addr, tt.delims)
		if err != nil || ok != tt.ok || got != tt.want {
			t.Errorf("Resolve(%q, %q) = %+v, %v, %v; want %+v, %v", tt.addr, tt.delims, got, ok, err, tt.want, tt.ok)
		}
	}
}
