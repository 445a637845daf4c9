package imapserver_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// genURLAuth runs GENURLAUTH for one rump and returns the signed URL.
func genURLAuth(t *testing.T, c *testserver.Client, rump string) string {
	t.Helper()
	lines := c.MustOK(fmt.Sprintf("GENURLAUTH %q INTERNAL", rump))
	m := regexp.MustCompile(`^\* GENURLAUTH "([^"]*)"$`).FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("GENURLAUTH: %q", lines)
	}
	if want := rump + ":INTERNAL:"; !strings.HasPrefix(m[1], want) || len(m[1]) != len(want)+64 {
		t.Fatalf("GENURLAUTH %q gave %q", rump, m[1])
	}
	return m[1]
}

// urlFetch runs URLFETCH with args and returns its untagged response and
// the tagged status.
func urlFetch(c *testserver.Client, args string) (string, string) {
	lines, status := c.Do("URLFETCH " + args)
	if len(lines) != 2 {
		return strings.Join(lines, "\n"), status
	}
	return lines[0], status
}

// TestURLAuth: GENURLAUTH signs a URL of the user's own message (RFC 4467
// 6.1) and URLFETCH returns its content to whom its access names:
// anonymous and authuser to anyone logged in, user+NAME to NAME,
// submit+NAME to a configured submission user; a tampered, expired,
// another server's or reset URL fetches NIL (6.3); RESETKEY of one
// mailbox or all invalidates the URLs signed before (6.2). (That the keys
// survive a restart: the store's TestAccessKeys.)
func TestURLAuth(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.ServerNames = []string{"mail.example.org"}
		cfg.URLAuthSubmitters = []string{"bob"}
	}))
	a := srv.Login(t, srv.Alice)
	caps, _ := cmdResult(a, "c0", "CAPABILITY")
	if !strings.Contains(caps[0], " URLAUTH URLAUTH=BINARY") {
		t.Fatalf("CAPABILITY: %q", caps)
	}
	a.Append("INBOX", "Subject: hello\r\n\r\nsecret text\r\n")
	a.MustOK("CREATE Other")
	a.Append("Other", "Subject: other\r\n\r\nother text\r\n")
	const host = "imap://alice@mail.example.org/"
	anon := genURLAuth(t, a, host+"INBOX/;UID=1;URLAUTH=anonymous")
	authuser := genURLAuth(t, a, host+"INBOX/;UID=1/;SECTION=TEXT;URLAUTH=authuser")
	forBob := genURLAuth(t, a, host+"INBOX/;UID=1/;PARTIAL=9.6;URLAUTH=user+bob")
	submit := genURLAuth(t, a, host+"INBOX/;UID=1;URLAUTH=submit+alice")
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	expiring := genURLAuth(t, a, host+"INBOX/;UID=1;EXPIRE="+later+";URLAUTH=anonymous")
	past := genURLAuth(t, a, host+"INBOX/;UID=1;EXPIRE=2020-01-01T00:00:00Z;URLAUTH=anonymous")
	other := genURLAuth(t, a, host+"Other/;UID=1;URLAUTH=anonymous")
	whole := "Subject: hello\r\n\r\nsecret text\r\n"

	b := srv.Login(t, srv.Bob)
	for _, tc := range []struct {
		who       *testserver.Client
		url, want string
	}{
		{a, anon, whole},
		{b, anon, whole},
		{b, authuser, "secret text\r\n"},
		{b, forBob, "hello\r"},
		{a, forBob, ""},
		{b, submit, whole}, // bob is the submission user
		{a, submit, ""},
		{b, expiring, whole},
		{b, past, ""},
		{b, other, "Subject: other\r\n\r\nother text\r\n"},
		// Tampered: another UID under the same token.
		{b, strings.Replace(anon, ";UID=1;", ";UID=2;", 1), ""},
		{b, anon[:len(anon)-1] + otherHexDigit(anon[len(anon)-1]), ""},
		// Not signed at all, or not naming this server.
		{b, host + "INBOX/;UID=1;URLAUTH=anonymous", ""},
		{b, strings.Replace(anon, "mail.example.org", "mail.example.net", 1), ""},
		{b, "nonsense", ""},
	} {
		got, status := urlFetch(tc.who, fmt.Sprintf("%q", tc.url))
		want := fmt.Sprintf("* URLFETCH %q NIL", tc.url)
		if tc.want != "" {
			want = fmt.Sprintf("* URLFETCH %q {%d}\r\n%s", tc.url, len(tc.want), tc.want)
		}
		if got != want || !strings.HasPrefix(status, "OK") {
			t.Errorf("URLFETCH %s:\n got %q %s\nwant %q", tc.url, got, status, want)
		}
	}
	// Several URLs in one command, one response.
	got, _ := urlFetch(b, fmt.Sprintf("%q %q", past, authuser))
	if want := fmt.Sprintf("* URLFETCH %q NIL %q {13}\r\nsecret text\r\n", past, authuser); got != want {
		t.Errorf("two URLs:\n got %q\nwant %q", got, want)
	}

	a.Run(`
C: r1 RESETKEY INBOX
S: r1 OK [URLMECH INTERNAL] RESETKEY completed
`)
	if got, _ := urlFetch(b, fmt.Sprintf("%q", authuser)); !strings.HasSuffix(got, " NIL") {
		t.Errorf("after RESETKEY INBOX: %q", got)
	}
	if got, _ := urlFetch(b, fmt.Sprintf("%q", other)); !strings.HasSuffix(got, "other text\r\n") {
		t.Errorf("RESETKEY INBOX reset Other: %q", got)
	}
	fresh := genURLAuth(t, a, host+"INBOX/;UID=1/;SECTION=TEXT;URLAUTH=authuser")
	if fresh == authuser {
		t.Errorf("RESETKEY kept the key: %q", fresh)
	}
	if got, _ := urlFetch(b, fmt.Sprintf("%q", fresh)); !strings.HasSuffix(got, "secret text\r\n") {
		t.Errorf("a URL signed after RESETKEY: %q", got)
	}
	a.MustOK("RESETKEY")
	for _, u := range []string{fresh, other} {
		if got, _ := urlFetch(b, fmt.Sprintf("%q", u)); !strings.HasSuffix(got, " NIL") {
			t.Errorf("after RESETKEY: %q", got)
		}
	}
}

// TestURLAuthRefusals: GENURLAUTH refuses with NO [BADURL url] and a
// reason a URL into another user's mailbox, of another server, without
// ;URLAUTH=, already signed, relative, or of a missing mailbox, and NO an
// unknown mechanism; RESETKEY of a missing mailbox is NO [NONEXISTENT];
// the connection stays usable.
func TestURLAuthRefusals(t *testing.T) {
	srv := testserver.Start(t)
	a := srv.Login(t, srv.Alice)
	a.Append("INBOX", "Subject: hello\r\n\r\nsecret text\r\n")
	signed := genURLAuth(t, a, "imap://alice@127.0.0.1/INBOX/;UID=1;URLAUTH=anonymous")
	a.Run(`
C: g1 GENURLAUTH "imap://bob@127.0.0.1/INBOX/;UID=1;URLAUTH=anonymous" INTERNAL
S: g1 NO [BADURL imap://bob@127.0.0.1/INBOX/;UID=1;URLAUTH=anonymous] Bad URL: URL names another user's mailbox
C: g2 GENURLAUTH "imap://alice@mail.example.net/INBOX/;UID=1;URLAUTH=anonymous" INTERNAL
S: g2 NO [BADURL imap://alice@mail.example.net/INBOX/;UID=1;URLAUTH=anonymous] Bad URL: URL names another server
C: g3 GENURLAUTH "imap://alice@127.0.0.1/INBOX/;UID=1" INTERNAL
S: g3 NO [BADURL imap://alice@127.0.0.1/INBOX/;UID=1] Bad URL: no ;URLAUTH=
C: g4 GENURLAUTH "` + signed + `" INTERNAL
S: g4 NO [BADURL ` + signed + `] Bad URL: URL already has a verifier
C: g5 GENURLAUTH "/INBOX/;UID=1;URLAUTH=anonymous" INTERNAL
S: g5 NO [BADURL /INBOX/;UID=1;URLAUTH=anonymous] Bad URL: not an absolute imap:// URL
C: g6 GENURLAUTH "imap://alice@127.0.0.1/Nope/;UID=1;URLAUTH=anonymous" INTERNAL
S: g6 NO [BADURL imap://alice@127.0.0.1/Nope/;UID=1;URLAUTH=anonymous] Bad URL: no such mailbox
C: g7 GENURLAUTH "imap://alice@127.0.0.1/INBOX/;UID=1;URLAUTH=anonymous" X-SHA1
S: g7 NO Unsupported URLAUTH mechanism X-SHA1
C: g8 GENURLAUTH "imap://127.0.0.1/INBOX/;UID=1;URLAUTH=anonymous" INTERNAL
S: g8 NO [BADURL imap://127.0.0.1/INBOX/;UID=1;URLAUTH=anonymous] Bad URL: URL names no user
C: g9 GENURLAUTH "imap://alice@127.0.0.1/INBOX/;UID=1;URLAUTH=root" INTERNAL
S: g9 NO [BADURL imap://alice@127.0.0.1/INBOX/;UID=1;URLAUTH=root] Bad URL: bad URLAUTH access "root"
C: r1 RESETKEY Nope
S: r1 NO [NONEXISTENT] No such mailbox
C: r2 RESETKEY INBOX X-SHA1
S: r2 NO Unsupported URLAUTH mechanism X-SHA1
C: u1 URLFETCH (x BODY BINARY)
S~ u1 BAD .*BINARY and BODY.*
C: n1 NOOP
S: n1 OK NOOP completed
`)
}

// TestURLFetchBinary: URLFETCH with RFC 5524's parameters answers each
// asked item in its own parentheses: BODYPARTSTRUCTURE of the part the
// URL names, BODY its octets, BINARY its content decoded (as a literal8,
// cut to the URL's partial range), NIL where there is no part to
// describe or decode; a bad URL is NIL as in the simple form.
func TestURLFetchBinary(t *testing.T) {
	srv := testserver.Start(t)
	a := srv.Login(t, srv.Alice)
	a.Append("INBOX", catSource)
	const host = "imap://alice@127.0.0.1/INBOX/;UID=1"
	part2 := genURLAuth(t, a, host+"/;SECTION=2;URLAUTH=authuser")
	part2p := genURLAuth(t, a, host+"/;SECTION=2/;PARTIAL=1.1;URLAUTH=authuser")
	header := genURLAuth(t, a, host+"/;SECTION=HEADER;URLAUTH=authuser")
	part1 := genURLAuth(t, a, host+"/;SECTION=1;URLAUTH=authuser")
	b := srv.Login(t, srv.Bob)
	for _, tc := range []struct{ args, want string }{
		{fmt.Sprintf("(%q BINARY BODYPARTSTRUCTURE)", part2),
			fmt.Sprintf("* URLFETCH %q (BINARY ~{3}\r\n\x00\x01\x02) (BODYPARTSTRUCTURE (\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 4 NIL NIL NIL NIL))", part2)},
		{fmt.Sprintf("(%q BODY)", part2), fmt.Sprintf("* URLFETCH %q (BODY {4}\r\nAAEC)", part2)},
		{fmt.Sprintf("(%q BINARY)", part2p), fmt.Sprintf("* URLFETCH %q (BINARY ~{1}\r\n\x01)", part2p)},
		{fmt.Sprintf("(%q BODYPARTSTRUCTURE BINARY)", header), fmt.Sprintf("* URLFETCH %q (BODYPARTSTRUCTURE NIL) (BINARY NIL)", header)},
		{fmt.Sprintf("(%q BODYPARTSTRUCTURE) %q", part1, part1),
			fmt.Sprintf("* URLFETCH %q (BODYPARTSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0 NIL NIL NIL NIL)) %q {8}\r\npart one", part1, part1)},
		{fmt.Sprintf("(%q)", part1), fmt.Sprintf("* URLFETCH %q {8}\r\npart one", part1)},
		{`("imap://alice@127.0.0.1/INBOX/;UID=1;URLAUTH=anonymous" BINARY)`, `* URLFETCH "imap://alice@127.0.0.1/INBOX/;UID=1;URLAUTH=anonymous" NIL`},
	} {
		got, status := urlFetch(b, tc.args)
		if got != tc.want || !strings.HasPrefix(status, "OK") {
			t.Errorf("URLFETCH %s:\n got %q %s\nwant %q", tc.args, got, status, tc.want)
		}
	}
}

// TestCatenateURLAuth: CATENATE follows a URLAUTH URL as URLFETCH does
// (RFC 4469 5): alice appends a part of bob's message that bob authorized
// for her; a URL of bob's that is not signed, or signed for another
// user, is NO [BADURL].
func TestCatenateURLAuth(t *testing.T) {
	srv := testserver.Start(t)
	b := srv.Login(t, srv.Bob)
	b.Append("INBOX", catSource)
	forAlice := genURLAuth(t, b, "imap://bob@127.0.0.1/INBOX/;UID=1/;SECTION=1;URLAUTH=user+alice")
	forCarol := genURLAuth(t, b, "imap://bob@127.0.0.1/INBOX/;UID=1/;SECTION=1;URLAUTH=user+carol")
	a := srv.Login(t, srv.Alice)
	a.Run(`
C: c1 APPEND Drafts CATENATE (TEXT {14+}\r\nSubject: x\r\n\r\n URL "` + forAlice + `")
S~ c1 OK \[APPENDUID \d+ 1\] APPEND completed
C: c2 APPEND Drafts CATENATE (URL "` + forCarol + `")
S: c2 NO [BADURL ` + forCarol + `] Bad URL: URL's access is not granted to this user
C: c3 APPEND Drafts CATENATE (URL "imap://bob@127.0.0.1/INBOX/;UID=1/;SECTION=1")
S: c3 NO [BADURL imap://bob@127.0.0.1/INBOX/;UID=1/;SECTION=1] Bad URL: URL names another user's mailbox
C: c4 APPEND Drafts CATENATE (URL "imap://bob@127.0.0.1/INBOX/;UID=1/;SECTION=1;URLAUTH=user+alice")
S: c4 NO [BADURL imap://bob@127.0.0.1/INBOX/;UID=1/;SECTION=1;URLAUTH=user+alice] Bad URL: URLAUTH URL without a verifier
`)
	a.MustOK("SELECT Drafts")
	if got, want := fetchBody(t, a, 1), "Subject: x\r\n\r\npart one"; got != want {
		t.Errorf("BODY[] %q, want %q", got, want)
	}
}

// otherHexDigit is a hex digit other than c, to tamper with a token.
func otherHexDigit(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}
