package imapserver_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

const caps = `IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE ID CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE ESEARCH SEARCHRES STATUS=SIZE BINARY MULTIAPPEND CONDSTORE QRESYNC UTF8=ACCEPT SAVEDATE SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS I18NLEVEL=1 CONTEXT=SEARCH CONTEXT=SORT` +
	` QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE METADATA METADATA-SERVER WITHIN UNAUTHENTICATE CATENATE URLAUTH URLAUTH=BINARY OBJECTID PREVIEW REPLACE PARTIAL NOTIFY APPENDLIMIT=67108864`

func TestGreetingAndCapability(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Dial(t)
	if want := "* OK [CAPABILITY " + caps + " AUTH=PLAIN] Dormouse ready"; c.Greeting != want {
		t.Fatalf("greeting\n got %q\nwant %q", c.Greeting, want)
	}
	c.Run(`
C: a1 CAPABILITY
S: * CAPABILITY ` + caps + ` AUTH=PLAIN
S: a1 OK CAPABILITY completed
C: a2 NOOP
S: a2 OK NOOP completed
C: a3 ID ("name" "test")
S: * ID ("name" "Dormouse")
S: a3 OK ID completed
C: a4 LOGOUT
S: * BYE Logging out
S: a4 OK LOGOUT completed
`)
	c.ExpectClosed()
}

func TestLogin(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Dial(t)
	c.Run(`
C: a1 LOGIN alice wrong
S: a1 NO [AUTHENTICATIONFAILED] Invalid credentials
C: a2 LOGIN nobody wrong
S: a2 NO [AUTHENTICATIONFAILED] Invalid credentials
C: a3 LOGIN alice "alice-secret"
S: a3 OK [CAPABILITY ` + caps + ` COMPRESS=DEFLATE] Logged in
C: a4 LOGIN alice "alice-secret"
S: a4 BAD Already authenticated
C: a5 NOOP
S: a5 OK NOOP completed
`)
}

func TestAuthenticatePlain(t *testing.T) {
	srv := testserver.Start(t)
	ir := base64.StdEncoding.EncodeToString([]byte("\x00bob\x00bob-secret"))
	bad := base64.StdEncoding.EncodeToString([]byte("\x00bob\x00nope"))
	c := srv.Dial(t)
	c.Run(`
C: a1 AUTHENTICATE PLAIN ` + bad + `
S: a1 NO [AUTHENTICATIONFAILED] Invalid credentials
C: a2 AUTHENTICATE PLAIN
S~ \+ ?
C: *
S: a2 BAD Authentication cancelled
C: a3 AUTHENTICATE CRAM-MD5
S: a3 NO [CANNOT] Unsupported authentication mechanism
C: a4 AUTHENTICATE PLAIN
S~ \+ ?
C: ` + ir + `
S: a4 OK [CAPABILITY ` + caps + ` COMPRESS=DEFLATE] Logged in
`)
	// SASL-IR (RFC 4959).
	c = srv.Dial(t)
	c.Run(`
C: b1 AUTHENTICATE PLAIN ` + ir + `
S: b1 OK [CAPABILITY ` + caps + ` COMPRESS=DEFLATE] Logged in
`)
	// Another user's authorization identity is refused.
	c = srv.Dial(t)
	c.Run(`
C: c1 AUTHENTICATE PLAIN ` + base64.StdEncoding.EncodeToString([]byte("alice\x00bob\x00bob-secret")) + `
S: c1 NO [AUTHORIZATIONFAILED] Cannot act as another user
`)
}

func TestStartTLS(t *testing.T) {
	srv := testserver.Start(t, testserver.WithTLS(false), testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Plain = imapserver.PlaintextNever
	}))
	c := srv.Dial(t)
	if want := "* OK [CAPABILITY " + caps + " STARTTLS LOGINDISABLED] Dormouse ready"; c.Greeting != want {
		t.Fatalf("greeting\n got %q\nwant %q", c.Greeting, want)
	}
	c.Run(`
C: a1 LOGIN alice alice-secret
S: a1 NO [PRIVACYREQUIRED] Plaintext authentication is disabled; use TLS
`)
	// A command pipelined after STARTTLS in the clear is discarded
	// (RFC 9051 6.2.1).
	c.Write("a2 STARTTLS\r\na3 NOOP\r\n")
	c.Expect("S: a2 OK Begin TLS negotiation now")
	c.StartTLS(srv.TLS)
	c.Run(`
C: a4 CAPABILITY
S: * CAPABILITY ` + caps + ` AUTH=PLAIN
S: a4 OK CAPABILITY completed
C: a5 STARTTLS
S: a5 BAD STARTTLS not available
C: a6 LOGIN alice alice-secret
S: a6 OK [CAPABILITY ` + caps + ` COMPRESS=DEFLATE] Logged in
`)
}

func TestImplicitTLS(t *testing.T) {
	srv := testserver.Start(t, testserver.WithTLS(true))
	c := srv.DialTLS(t)
	if want := "* OK [CAPABILITY " + caps + " AUTH=PLAIN] Dormouse ready"; c.Greeting != want {
		t.Fatalf("greeting %q", c.Greeting)
	}
	c.Run(`
C: a1 LOGIN bob bob-secret
S: a1 OK [CAPABILITY ` + caps + ` COMPRESS=DEFLATE] Logged in
`)
}

func TestEnable(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.Run(`
C: a1 ENABLE CONDSTORE X-UNKNOWN
S: * ENABLED CONDSTORE
S: a1 OK ENABLE completed
C: a2 ENABLE CONDSTORE IMAP4rev2 UTF8=ACCEPT
S: * ENABLED IMAP4rev2 UTF8=ACCEPT
S: a2 OK ENABLE completed
C: a3 SELECT INBOX
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted
S: * 0 EXISTS
S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
S: * OK [UIDNEXT 1] Predicted next UID
S~ \* OK \[HIGHESTMODSEQ \d+\] Highest
S~ \* OK \[MAILBOXID \(F[0-9a-f]+\)\] Ok
S: * LIST () "/" INBOX
S: a3 OK [READ-WRITE] SELECT completed
C: a4 ENABLE CONDSTORE
S: a4 BAD ENABLE not allowed now
`)
}

// TestTimeouts checks the autologout of an unauthenticated connection and
// of an authenticated one that sends nothing (RFC 9051 5.4).
func TestTimeouts(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.LoginTimeout = 100 * time.Millisecond
		cfg.Limits.IdleTimeout = 300 * time.Millisecond
	}))
	c := srv.Dial(t)
	if got := c.ExpectClosed(); len(got) != 1 || got[0] != "* BYE Autologout; idle for too long" {
		t.Fatalf("login timeout: %q", got)
	}
	c = srv.Dial(t)
	start := time.Now()
	c.Run(`
C: a1 LOGIN alice alice-secret
S~ a1 OK .*
`)
	if got := c.ExpectClosed(); len(got) != 1 || got[0] != "* BYE Autologout; idle for too long" {
		t.Fatalf("idle timeout: %q", got)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("idle timeout after %v, want the longer IdleTimeout", d)
	}
	// IDLE is exempt from the idle timeout.
	c = srv.Login(t, srv.Alice)
	c.Run(`
C: a1 IDLE
S: + idling
`)
	c.ExpectNothing(500 * time.Millisecond)
	c.Run(`
C: DONE
S: a1 OK IDLE terminated
`)
}
