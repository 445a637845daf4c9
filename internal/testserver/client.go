package testserver

import (
	"testing"

	"github.com/dormouse/dormouse/internal/imaptest"
)

// Client is the raw IMAP client for transcript tests (imaptest.Client):
// its methods fail the test on error.
type Client = imaptest.Client

// Dial connects to the server and reads its greeting. The connection is
// closed when the test ends.
func (s *Server) Dial(t testing.TB) *Client {
	t.Helper()
	return imaptest.DialT(t, s.Addr, imaptest.DialOptions{})
}

// DialFrom connects from the loopback address ip (such as "127.0.0.2"),
// so that the server sees another client address, and reads the greeting.
func (s *Server) DialFrom(t testing.TB, ip string) *Client {
	t.Helper()
	return imaptest.DialT(t, s.Addr, imaptest.DialOptions{From: ip})
}

// DialTLS connects with implicit TLS (a server started WithTLS(true)).
func (s *Server) DialTLS(t testing.TB) *Client {
	t.Helper()
	return imaptest.DialT(t, s.Addr, imaptest.DialOptions{TLS: s.TLS})
}

// Login dials and logs in as u, reading the tagged OK.
func (s *Server) Login(t testing.TB, u User) *Client {
	t.Helper()
	c := s.Dial(t)
	c.Login(u.Name, u.Password)
	return c
}
