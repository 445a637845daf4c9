//go:build unix

package hibernate

import (
	"errors"
	"syscall"
	"testing"
)

// TestReadWriteFD checks the non-blocking helpers a sleeper answers
// with: ReadFD never blocks, WriteFDN reports how much the socket took.
func TestReadWriteFD(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := fds[0], fds[1]
	defer syscall.Close(a)
	bOpen := true
	defer func() {
		if bOpen {
			syscall.Close(b)
		}
	}()
	for _, fd := range fds {
		if err := syscall.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
	}
	var buf [64]byte
	if _, err := ReadFD(a, buf[:]); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("ReadFD on an empty socket: %v, want EAGAIN", err)
	}
	if n, err := WriteFDN(b, []byte("DONE\r\n")); n != 6 || err != nil {
		t.Fatalf("WriteFDN = %d, %v", n, err)
	}
	if n, err := ReadFD(a, buf[:]); err != nil || string(buf[:n]) != "DONE\r\n" {
		t.Fatalf("ReadFD = %q, %v", buf[:n], err)
	}
	// Fill b's send buffer: WriteFDN stops at EAGAIN and says how far
	// it got.
	big := make([]byte, 1<<16)
	total := 0
	for i := 0; i < 1000; i++ {
		n, err := WriteFDN(b, big)
		total += n
		if err != nil {
			if !errors.Is(err, syscall.EAGAIN) || n == len(big) {
				t.Fatalf("WriteFDN on a full socket: %d, %v", n, err)
			}
			break
		}
	}
	if total == 0 {
		t.Fatal("nothing written")
	}
	syscall.Close(b)
	bOpen = false
	for {
		n, err := ReadFD(a, big)
		if err != nil {
			t.Fatalf("ReadFD while draining: %v", err)
		}
		if n == 0 {
			break // end of file
		}
		total -= n
	}
	if total != 0 {
		t.Fatalf("%d bytes written but not read", total)
	}
}
