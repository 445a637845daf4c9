//go:build !unix

package hibernate

import "errors"

// Without Unix descriptors (Windows, WASI, Plan 9), connections cannot be
// detached; the server keeps them active.

func dupCloexec(fd int) (int, error) { return -1, errors.ErrUnsupported }

func closeFD(fd int) error { return errors.ErrUnsupported }

func readable(fd int) bool { return true }

// WriteFD is not supported without Unix descriptors.
func WriteFD(fd int, p []byte) error { return errors.ErrUnsupported }

// CloseFD is not supported without Unix descriptors.
func CloseFD(fd int) error { return errors.ErrUnsupported }

// ReadFD is not supported without Unix descriptors.
func ReadFD(fd int, p []byte) (int, error) { return 0, errors.ErrUnsupported }

// WriteFDN is not supported without Unix descriptors.
func WriteFDN(fd int, p []byte) (int, error) { return 0, errors.ErrUnsupported }
