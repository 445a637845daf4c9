package imapserver

import "net"

// SetStepHook makes fn run at each step of a long command (SEARCH, FETCH
// and LIST call it per message or mailbox), on the connection's
// goroutine, with the connection's socket.
func SetStepHook(s *Server, fn func(nc net.Conn)) { s.stepHook.Store(&fn) }

// PeerClosed is peerClosed, for tests that wait until the server can see
// that a client left.
func PeerClosed(nc net.Conn) bool { return peerClosed(nc) }
