package imapserver_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestHostileInput sends malformed and hostile input on real connections.
// Each case must get the right BAD, NO or BYE, and the connection must
// stay usable afterwards (a NOOP works) unless the RFC says it ends.
func TestHostileInput(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.MaxLiteral = 1000
		cfg.Limits.MaxLine = 4096
	}))
	fill(t, srv, "INBOX", 3)

	const (
		notAuth  = "not authenticated"
		authed   = "authenticated"
		selected = "selected"
	)
	bad := func(tag string) string { return `^` + regexp.QuoteMeta(tag) + ` BAD .+` }
	anyBad := `^\S+ BAD .+`
	cases := []struct {
		name  string
		state string
		send  string // raw bytes
		want  string // regexp the final response must match
		// closed: the server must end the connection after want.
		closed bool
		// halfClose: the client stops sending after send; the server must
		// close without answering further.
		halfClose bool
	}{
		// Tags.
		{"empty lines before a command", notAuth, "\r\n\r\na1 FROB\r\n", bad("a1"), false, false},
		{"tag only", notAuth, "a1\r\n", anyBad, false, false},
		{"tag with brace", notAuth, "a{1 NOOP\r\n", anyBad, false, false},
		{"tag star", notAuth, "* NOOP\r\n", anyBad, false, false},
		{"tag plus", notAuth, "+ NOOP\r\n", anyBad, false, false},
		{"tag with quote", notAuth, "a\"1 NOOP\r\n", anyBad, false, false},
		// Commands and arguments.
		{"unknown command", notAuth, "a1 FROBNICATE\r\n", bad("a1"), false, false},
		{"NOOP with argument", notAuth, "a1 NOOP extra\r\n", bad("a1"), false, false},
		{"LOGIN three args", notAuth, "a1 LOGIN a b c\r\n", bad("a1"), false, false},
		{"LOGIN unterminated quote", notAuth, "a1 LOGIN \"alice x\r\n", bad("a1"), false, false},
		{"LOGIN bad quoted escape", notAuth, "a1 LOGIN \"al\\ice\" x\r\n", bad("a1"), false, false},
		{"AUTHENTICATE bad base64", notAuth, "a1 AUTHENTICATE PLAIN !!!!\r\n", bad("a1"), false, false},
		{"UID alone", selected, "a1 UID\r\n", bad("a1"), false, false},
		{"UID NOOP", selected, "a1 UID NOOP\r\n", bad("a1"), false, false},
		{"SELECT without mailbox", authed, "a1 SELECT\r\n", bad("a1"), false, false},
		{"STATUS without items", authed, "a1 STATUS INBOX\r\n", bad("a1"), false, false},
		{"STATUS unknown item", authed, "a1 STATUS INBOX (FOO)\r\n", bad("a1"), false, false},
		{"LIST without args", authed, "a1 LIST\r\n", bad("a1"), false, false},
		{"COPY without mailbox", selected, "a1 COPY 1\r\n", bad("a1"), false, false},
		{"STORE bad operation", selected, "a1 STORE 1 ++FLAGS (\\Seen)\r\n", bad("a1"), false, false},
		// Parentheses.
		{"unclosed paren", selected, "a1 FETCH 1 (FLAGS\r\n", bad("a1"), false, false},
		{"extra close paren", selected, "a1 FETCH 1 FLAGS)\r\n", bad("a1"), false, false},
		{"double parens", selected, "a1 FETCH 1 ((FLAGS))\r\n", bad("a1"), false, false},
		{"search unclosed paren", selected, "a1 SEARCH (SEEN\r\n", bad("a1"), false, false},
		{"deep nesting", selected, "a1 SEARCH " + strings.Repeat("(", 2000) + "ALL" + strings.Repeat(")", 2000) + "\r\n", `^a1 (OK|BAD|NO) .+`, false, false},
		// Search keys and fetch items.
		{"search unknown key", selected, "a1 SEARCH FROBS\r\n", bad("a1"), false, false},
		{"search OR one arg", selected, "a1 SEARCH OR SEEN\r\n", bad("a1"), false, false},
		{"search bad date", selected, "a1 SEARCH BEFORE 32-Jan-2020\r\n", bad("a1"), false, false},
		{"search bad charset", selected, "a1 SEARCH CHARSET BOGUS ALL\r\n", `^a1 NO \[BADCHARSET \(UTF-8 US-ASCII\)\] .+`, false, false},
		{"fetch unknown item", selected, "a1 FETCH 1 FROBS\r\n", bad("a1"), false, false},
		{"fetch bad partial", selected, "a1 FETCH 1 BODY[]<1.2.3>\r\n", bad("a1"), false, false},
		{"fetch HEADER.FIELDS without list", selected, "a1 FETCH 1 BODY[HEADER.FIELDS]\r\n", bad("a1"), false, false},
		// Sequence sets.
		{"seq zero", selected, "a1 FETCH 0 FLAGS\r\n", bad("a1"), false, false},
		{"seq open range", selected, "a1 FETCH 1: FLAGS\r\n", bad("a1"), false, false},
		{"seq leading colon", selected, "a1 FETCH :1 FLAGS\r\n", bad("a1"), false, false},
		{"seq double comma", selected, "a1 FETCH 1,,2 FLAGS\r\n", bad("a1"), false, false},
		{"seq letters", selected, "a1 FETCH a FLAGS\r\n", bad("a1"), false, false},
		{"seq negative", selected, "a1 FETCH -1 FLAGS\r\n", bad("a1"), false, false},
		{"seq overflow", selected, "a1 FETCH 4294967296 FLAGS\r\n", bad("a1"), false, false},
		{"seq beyond mailbox", selected, "a1 FETCH 99 FLAGS\r\n", bad("a1"), false, false},
		{"saved result without search", selected, "a1 FETCH $ FLAGS\r\n", `^a1 OK .+`, false, false},
		// NUL bytes and 8-bit data.
		{"NUL after command", notAuth, "a1 NOOP\x00\r\n", bad("a1"), false, false},
		{"NUL in atom", notAuth, "a1 LOGIN al\x00ice x\r\n", bad("a1"), false, false},
		{"NUL in quoted", authed, "a1 SELECT \"IN\x00BOX\"\r\n", bad("a1"), false, false},
		{"8-bit in atom", notAuth, "a1 LOGIN ali\xffce x\r\n", `^a1 (BAD|NO) .+`, false, false},
		// Modified UTF-7.
		{"mUTF-7 unterminated", authed, "a1 CREATE &Jjo\r\n", `^a1 (BAD|NO) .+`, false, false},
		{"mUTF-7 encodes ASCII", authed, "a1 CREATE &AGE-\r\n", `^a1 (BAD|NO) .+`, false, false},
		{"mUTF-7 bad base64", authed, "a1 SELECT &*-\r\n", `^a1 (BAD|NO) .+`, false, false},
		// Literals.
		{"4 GiB literal", notAuth, "a1 LOGIN {4294967296}\r\n", `^a1 (BAD|NO) .+`, false, false},
		{"literal number overflow", notAuth, "a1 LOGIN {99999999999999999999}\r\n", `^a1 (BAD|NO) .+`, false, false},
		{"APPEND too big", authed, "a1 APPEND INBOX {5000}\r\n", `^a1 NO \[TOOBIG\] .+`, false, false},
		{"APPEND too big, LITERAL+", authed, "a1 APPEND INBOX {5000+}\r\n" + strings.Repeat("x", 5000) + "\r\n", `^a1 NO \[TOOBIG\] .+`, false, false},
		{"APPEND 4 GiB", authed, "a1 APPEND INBOX {4294967296}\r\n", `^a1 NO \[TOOBIG\] .+`, false, false},
		{"APPEND too big before LOGIN", notAuth, "a1 APPEND INBOX {100000}\r\n", bad("a1"), false, false},
		{"literal shorter than announced", notAuth, "a1 LOGIN {20}\r\n", `^\+ .*`, true, true},
		{"line too long", notAuth, "a1 NOOP " + strings.Repeat("x", 5000) + "\r\n", anyBad, false, false},
		// Commands in the wrong state.
		{"FETCH before SELECT", authed, "a1 FETCH 1 FLAGS\r\n", bad("a1"), false, false},
		{"SELECT before LOGIN", notAuth, "a1 SELECT INBOX\r\n", bad("a1"), false, false},
		{"LOGIN twice", authed, "a1 LOGIN alice alice-secret\r\n", bad("a1"), false, false},
		{"AUTHENTICATE after login", selected, "a1 AUTHENTICATE PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==\r\n", bad("a1"), false, false},
		{"ENABLE before LOGIN", notAuth, "a1 ENABLE CONDSTORE\r\n", bad("a1"), false, false},
		{"IDLE before LOGIN", notAuth, "a1 IDLE\r\n", bad("a1"), false, false},
		{"APPEND before LOGIN", notAuth, "a1 APPEND INBOX {3+}\r\nabc\r\n", bad("a1"), false, false},
		{"EXPUNGE without mailbox", authed, "a1 EXPUNGE\r\n", bad("a1"), false, false},
		{"UID FETCH before LOGIN", notAuth, "a1 UID FETCH 1 FLAGS\r\n", bad("a1"), false, false},
		{"STARTTLS without TLS", notAuth, "a1 STARTTLS\r\n", bad("a1"), false, false},
		{"DONE outside IDLE", authed, "DONE\r\n", anyBad, false, false},
		// The end of a session.
		{"pipelined after LOGOUT", authed, "a1 LOGOUT\r\na2 NOOP\r\na3 SELECT INBOX\r\n", `^a1 OK LOGOUT completed`, true, false},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c *testserver.Client
			switch tc.state {
			case notAuth:
				c = srv.Dial(t)
			case authed:
				c = srv.Login(t, srv.Alice)
			case selected:
				c = selectInbox(t, srv)
			}
			c.Write(tc.send)
			re := regexp.MustCompile(tc.want)
			var got []string
			for {
				l := c.ReadLine()
				got = append(got, l)
				if re.MatchString(l) {
					break
				}
				if len(got) > 5 {
					t.Fatalf("no response matching %q in %q", tc.want, got)
				}
			}
			if tc.halfClose {
				c.NetConn().(*net.TCPConn).CloseWrite()
			}
			if tc.closed {
				if rest := c.ExpectClosed(); len(rest) > 0 {
					t.Fatalf("after %q: unexpected %q", got, rest)
				}
				return
			}
			// The connection is still usable.
			c.Run(`
C: zz NOOP
S: zz OK NOOP completed
`)
		})
	}
}

// TestPreAuthLiteral checks that a client that has not logged in cannot
// make the server accept (and spool) a large literal: a command its state
// refuses is answered before its literal is sent, and a literal above the
// pre-auth cap is refused before the client sends it.
func TestPreAuthLiteral(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Dial(t)
	c.Run(`
C: a1 APPEND INBOX {100000}
S: a1 BAD APPEND not allowed before authentication
C: a2 APPEND INBOX {5}
S: a2 BAD APPEND not allowed before authentication
C: a3 LOGIN {100000}
S: a3 BAD [LIMIT] literal of 100000 bytes exceeds the limit of 8192 before authentication
C: a4 NOOP
S: a4 OK NOOP completed
`)
}

// TestPreAuthNonSyncAppend streams big non-synchronizing APPENDs from
// clients that have not logged in: each gets a tagged BAD and a BYE at
// once, the connection is closed, and not one byte reaches the spool
// (the hostile-client review, finding 2: before, every byte was spooled and then refused).
func TestPreAuthNonSyncAppend(t *testing.T) {
	spool := t.TempDir()
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.SpoolDir = spool
	}))
	const size = 16 << 20
	var spooled atomic.Int64 // the most bytes seen in the spool at once
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			spooled.Store(max(spooled.Load(), dirBytes(spool)))
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var writers sync.WaitGroup
	clients := make([]*testserver.Client, 4)
	for i := range clients {
		clients[i] = srv.Dial(t)
		nc := clients[i].NetConn()
		writers.Add(1)
		go func() {
			defer writers.Done()
			// The server stops reading: the writes fail, as they should.
			nc.SetWriteDeadline(time.Now().Add(time.Minute))
			io.WriteString(nc, fmt.Sprintf("a%d APPEND INBOX {%d+}\r\n", i, size))
			chunk := []byte(strings.Repeat("x", 64<<10))
			for n := 0; n < size; n += len(chunk) {
				if _, err := nc.Write(chunk); err != nil {
					return
				}
			}
		}()
	}
	for i, c := range clients {
		tag := fmt.Sprintf("a%d", i)
		got := c.ExpectClosed()
		if len(got) != 2 || got[0] != tag+" BAD APPEND not allowed before authentication" || !strings.HasPrefix(got[1], "* BYE ") {
			t.Errorf("got %q, want a tagged BAD and a BYE", got)
		}
	}
	writers.Wait()
	close(stop)
	<-watched
	if n := max(spooled.Load(), dirBytes(spool)); n != 0 {
		t.Errorf("%d bytes spooled before authentication", n)
	}
}

// dirBytes is the size of the files in dir.
func dirBytes(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}
