package imapserver

import (
	"crypto/tls"
	"net"

	"github.com/dormouse/dormouse/internal/tls13rec"
)

// NewTLSListener is tls.NewListener for implicit TLS (IMAPS): each
// connection's tls.Conn sits on a tls13rec.Recorder, so that a TLS 1.3
// connection can hibernate on its record state alone (sleeper_tls13.go).
func NewTLSListener(l net.Listener, cfg *tls.Config) net.Listener {
	return tlsListener{l, cfg}
}

type tlsListener struct {
	net.Listener
	cfg *tls.Config
}

// Accept returns the next connection as a *tls.Conn (handshake not run).
func (l tlsListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, _ := tls13rec.Server(nc, l.cfg)
	return tc, nil
}
