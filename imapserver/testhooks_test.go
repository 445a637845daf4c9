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

// InterruptWaiting interrupts the read of every session of s that waits
// for a command or in IDLE, as a change or a handover does, with nothing
// to do after it; it returns how many were waiting.
func InterruptWaiting(s *Server) int {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range conns {
		c.mu.Lock()
		if c.waiting || c.idlePeek {
			n++
		}
		c.mu.Unlock()
		c.interruptIfWaiting()
	}
	return n
}
