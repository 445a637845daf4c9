package imapserver_test

import (
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestSearchBodyNotHeaders: BODY looks in the body only (RFC 9051 6.4.4):
// a word only in a header field is not found, TEXT finds it.
func TestSearchBodyNotHeaders(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.Append("INBOX", "From: a@example.org\r\nSubject: zebra crossing\r\nX-Note: okapi\r\n\r\nnothing striped here\r\n")
	c.MustOK("SELECT INBOX")
	c.Run(`
C: a1 SEARCH BODY zebra
S: * SEARCH
S: a1 OK SEARCH completed
C: a2 SEARCH BODY okapi
S: * SEARCH
S: a2 OK SEARCH completed
C: a3 SEARCH TEXT okapi
S: * SEARCH 1
S: a3 OK SEARCH completed
C: a4 SEARCH BODY striped
S: * SEARCH 1
S: a4 OK SEARCH completed
`)
}

// TestSearchObsoleteAddress: an address in the obsolete syntax, with
// comments and spaces inside the addr-spec (RFC 5322 4.4), is found by
// FROM and TO as its ENVELOPE shows it.
func TestSearchObsoleteAddress(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.Append("INBOX", "From: <user (comment)@ (comment) domain.org>\r\nTo: Joe (x) <joe (y) @ (z) example.org>\r\nSubject: obs\r\n\r\nbody\r\n")
	c.MustOK("SELECT INBOX")
	c.Run(`
C: a1 SEARCH FROM user@domain.org
S: * SEARCH 1
S: a1 OK SEARCH completed
C: a2 SEARCH TO "joe@example.org"
S: * SEARCH 1
S: a2 OK SEARCH completed
C: a3 SEARCH TO "joe <joe@example"
S: * SEARCH 1
S: a3 OK SEARCH completed
C: a4 SEARCH FROM nobody@domain.org
S: * SEARCH
S: a4 OK SEARCH completed
C: a5 FETCH 1 ENVELOPE
S~ \* 1 FETCH \(ENVELOPE \(NIL "obs" \(\(NIL NIL "user" "domain.org"\)\) .*\(\("Joe" NIL "joe" "example.org"\)\) NIL NIL NIL NIL\)\)
S: a5 OK FETCH completed
`)
}
