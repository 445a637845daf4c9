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
