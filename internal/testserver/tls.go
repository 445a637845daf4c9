package testserver

import (
	"crypto/tls"
	"testing"

	"github.com/dormouse/dormouse/internal/testcert"
)

// selfSigned makes a certificate for 127.0.0.1 and returns the server's
// TLS config and a client config that trusts it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	return testcert.New(t)
}
