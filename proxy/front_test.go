package proxy

import (
	"strings"
	"testing"
	"time"
)

// TestPreAuth: before login the proxy answers CAPABILITY, NOOP, LOGOUT
// and refuses other commands and bad passwords itself, over plain IMAP
// and IMAPS (no backend is needed: the one configured is dead).
func TestPreAuth(t *testing.T) {
	p := startProxy(t, newPasswd(t), []string{deadAddr(t)}, nil)
	c := p.dial(t)
	if !strings.HasPrefix(c.Greeting, "* OK [CAPABILITY IMAP4rev1 ") || !strings.Contains(c.Greeting, " STARTTLS") {
		t.Fatalf("greeting %q", c.Greeting)
	}
	c.Run(`
C: a1 CAPABILITY
S~ \* CAPABILITY IMAP4rev1 .* STARTTLS AUTH=PLAIN
S: a1 OK CAPABILITY completed
C: a2 NOOP
S: a2 OK NOOP completed
C: a3 SELECT INBOX
S: a3 BAD Log in first
C: a4 LOGIN alice wrong
S: a4 NO [AUTHENTICATIONFAILED] Invalid credentials
C: a5 AUTHENTICATE PLAIN AGFsaWNlAHdyb25n
S: a5 NO [AUTHENTICATIONFAILED] Invalid credentials
C: a6 LOGOUT
S: * BYE Logging out
S: a6 OK LOGOUT completed
`)
	s := p.dialTLS(t)
	if strings.Contains(s.Greeting, "STARTTLS") {
		t.Errorf("IMAPS greeting offers STARTTLS: %q", s.Greeting)
	}
	s.Run(`
C: b1 CAPABILITY
S~ \* CAPABILITY IMAP4rev1 .* AUTH=PLAIN
S: b1 OK CAPABILITY completed
`)
}

// TestLoginBackendDown: a login whose backend does not answer gets NO
// [UNAVAILABLE] at once, and the connection stays usable.
func TestLoginBackendDown(t *testing.T) {
	p := startProxy(t, newPasswd(t), []string{deadAddr(t)}, nil)
	c := p.dial(t)
	start := time.Now()
	c.Run(`
C: a1 LOGIN alice alice-pw
S: a1 NO [UNAVAILABLE] Backend unavailable, try again later
C: a2 NOOP
S: a2 OK NOOP completed
`)
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("NO [UNAVAILABLE] after %v", d)
	}
}

// TestPreAuthLineLimit: a line over the proxy's limit is refused before
// login, as by the server's decoder.
func TestPreAuthLineLimit(t *testing.T) {
	p := startProxy(t, newPasswd(t), []string{deadAddr(t)}, nil)
	c := p.dial(t)
	c.Send("a1 LOGIN " + strings.Repeat("x", 10<<10) + " y")
	c.WaitFor(`^(a1|\*) (BAD|NO|BYE)`)
}
