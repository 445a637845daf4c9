package interop

import (
	"net"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// server is what an interop test needs of a running Dormouse: where to
// connect, one account, and a way to deliver mail outside IMAP.
type server struct {
	addr       string
	host, port string
	user, pass string
	// deliver drops a message into the account's INBOX the way an MDA
	// does (tmp/ then new/), so that the server learns of it from the
	// file system, not from an IMAP session.
	deliver func(t *testing.T, msg string)
}

// startServer starts a fresh Dormouse for one test; it stops when the test
// ends.
func startServer(t *testing.T) *server {
	t.Helper()
	srv := testserver.Start(t)
	host, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return &server{
		addr: srv.Addr,
		host: host,
		port: port,
		user: srv.Alice.Name,
		pass: srv.Alice.Password,
		deliver: func(t *testing.T, msg string) {
			t.Helper()
			srv.Deliver(t, srv.Alice.Name, msg)
		},
	}
}
