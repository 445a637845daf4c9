package imapserver

import "crypto/tls"

// TLSSleepers returns the tls.Conns of s's hibernated TLS connections, for
// the measurement in tls_measure_linux_test.go.
func TLSSleepers(s *Server) []*tls.Conn {
	h := s.hib
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*tls.Conn, 0, len(h.tls))
	for _, tc := range h.tls {
		out = append(out, tc)
	}
	return out
}
