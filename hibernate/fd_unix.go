//go:build unix

package hibernate

import (
	"errors"
	"syscall"
)

// dupCloexec duplicates fd with close-on-exec set. ForkLock keeps a
// concurrent fork+exec from inheriting the duplicate in between.
func dupCloexec(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	d, err := syscall.Dup(fd)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(d)
	return d, nil
}

func closeFD(fd int) error { return syscall.Close(fd) }

// readable reports whether a read on the non-blocking socket fd would
// not block: data, end of file or an error is waiting. MSG_PEEK leaves
// the bytes for the session that wakes.
func readable(fd int) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(fd, b[:], syscall.MSG_PEEK)
	return !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR)
}

// WriteFD writes p to a detached, non-blocking descriptor, for the few
// bytes a sleeping connection is sent without waking it (a keepalive, a
// BYE at shutdown). A short write or EAGAIN is reported as an error: the
// caller then wakes or closes the connection.
func WriteFD(fd int, p []byte) error {
	n, err := syscall.Write(fd, p)
	if err != nil {
		return err
	}
	if n < len(p) {
		return syscall.EAGAIN
	}
	return nil
}

// CloseFD closes a descriptor from Detach that will not be attached again.
func CloseFD(fd int) error { return closeFD(fd) }
