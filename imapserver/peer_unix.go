//go:build unix

package imapserver

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/dormouse/dormouse/internal/tls13rec"
)

// peerClosed reports whether the TCP socket under nc has reached end of
// input or failed (the client closed or reset the connection), without
// consuming anything: recv with MSG_PEEK|MSG_DONTWAIT. A socket it cannot
// look at counts as open.
func peerClosed(nc net.Conn) bool {
	switch c := nc.(type) {
	case *tls.Conn:
		nc = c.NetConn()
		if r, ok := nc.(*tls13rec.Recorder); ok {
			nc = r.NetConn()
		}
	case *tls13rec.Conn:
		nc = c.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	// Control, not Read: it ignores read deadlines, and the recv does not
	// block.
	cerr := rc.Control(func(fd uintptr) {
		var b [1]byte
		for {
			n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			closed = (err == nil && n == 0) || (err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EWOULDBLOCK))
			return
		}
	})
	return cerr == nil && closed
}
