//go:build !unix

package imapserver

import "net"

// peerClosed cannot look at the socket here: a client that leaves is
// noticed when a write fails, and the server's shutdown bound still holds
// through the connection's context.
func peerClosed(nc net.Conn) bool { return false }
