//go:build unix

package testserver

import (
	"fmt"
	"syscall"
)

// sendBufferControl returns a net.ListenConfig.Control that sets the
// socket's SO_SNDBUF to bytes.
func sendBufferControl(bytes int) func(network, address string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, bytes)
		}); err != nil {
			return fmt.Errorf("testserver: send buffer: %w", err)
		}
		if serr != nil {
			return fmt.Errorf("testserver: SO_SNDBUF %d: %w", bytes, serr)
		}
		return nil
	}
}
