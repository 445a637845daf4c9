package hibernate

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// Detach takes c's socket out of the Go runtime and returns a descriptor
// the caller owns: it duplicates c's descriptor (close-on-exec, still
// non-blocking, which epoll needs) and closes c. Closing c releases what
// the runtime keeps per connection (its poll descriptor, padded to 512 B,
// the netFD and the conn) but not the connection, which the duplicate
// still refers to: close(2) of one of two descriptors sends no FIN.
//
// (*net.TCPConn).File would do the dup too, but it switches the socket to
// blocking mode and leaves c open, so both must then be undone.
//
// c must be a *net.TCPConn or *net.UnixConn (a syscall.Conn). A tls.Conn
// is not: its record state would be lost with it. No read may be in
// progress on c, and bytes c has buffered above the socket (a bufio
// reader) are the caller's to keep.
func Detach(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("hibernate: detach %T: not a syscall.Conn", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("hibernate: detach: %w", err)
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = dupCloexec(int(s)) }); err != nil {
		return -1, fmt.Errorf("hibernate: detach: %w", err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("hibernate: detach: dup: %w", dupErr)
	}
	if err := c.Close(); err != nil {
		closeFD(fd)
		return -1, fmt.Errorf("hibernate: detach: close: %w", err)
	}
	return fd, nil
}

// Attach turns a descriptor from Detach back into a net.Conn (a
// *net.TCPConn for a TCP socket) registered with the Go runtime, for a
// connection that wakes. It consumes fd: fd is closed, also on error.
func Attach(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "hibernated")
	if f == nil {
		return nil, fmt.Errorf("hibernate: attach fd %d: invalid", fd)
	}
	// FileConn dups f's descriptor into a new runtime-owned conn, so
	// ours is closed after it.
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("hibernate: attach fd %d: %w", fd, err)
	}
	return c, nil
}
