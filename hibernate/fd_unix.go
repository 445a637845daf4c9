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

// ReadFD reads what is waiting on a detached, non-blocking descriptor,
// for the few bytes a sleeping connection may answer without waking (a
// DONE and a new IDLE). It never blocks: with nothing waiting the error
// is syscall.EAGAIN. 0 bytes and a nil error mean end of file.
func ReadFD(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, p)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

// WriteFDN writes as much of p as the socket takes without blocking and
// returns how much that was; the error is syscall.EAGAIN when the rest
// would block. Unlike WriteFD the caller learns where to resume, so a
// short write of a longer update can be finished by a woken session.
func WriteFDN(fd int, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := syscall.Write(fd, p[n:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// CloseFD closes a descriptor from Detach that will not be attached again.
func CloseFD(fd int) error { return closeFD(fd) }
