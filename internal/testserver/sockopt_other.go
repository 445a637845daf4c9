//go:build !unix

package testserver

import (
	"errors"
	"syscall"
)

// sendBufferControl fails: WithSendBuffer needs Unix socket options.
func sendBufferControl(int) func(network, address string, rc syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error {
		return errors.New("testserver: WithSendBuffer is Unix-only")
	}
}
