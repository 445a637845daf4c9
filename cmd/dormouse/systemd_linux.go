package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The systemd protocols the daemon speaks, without a library: socket
// activation (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES,
// descriptors from 3 on) and readiness notification (sd_notify(3): a
// datagram to NOTIFY_SOCKET).

// listenFDsStart is the first descriptor systemd passes.
const listenFDsStart = 3

// activatedListeners returns the listening sockets systemd passed, by the
// name each socket unit gives with FileDescriptorName= ("imap", "imaps",
// "lmtp", "metrics"). It returns nil when the environment passes none to
// this process, and unsets the variables so that no child sees them.
func activatedListeners() (map[string]net.Listener, error) {
	pid, fds, names := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	return listenersFromEnv(pid, fds, names, os.Getpid())
}

// listenersFromEnv is activatedListeners on given values: pid, fds and
// names as the variables hold them, self the pid of this process.
func listenersFromEnv(pid, fds, names string, self int) (map[string]net.Listener, error) {
	if pid == "" || fds == "" {
		return nil, nil
	}
	if p, err := strconv.Atoi(pid); err != nil || p != self {
		return nil, nil // meant for another process (sd_listen_fds does the same)
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 || n > 64 {
		return nil, fmt.Errorf("LISTEN_FDS=%q: want a small count", fds)
	}
	nameList := strings.Split(names, ":")
	if names == "" || len(nameList) != n {
		return nil, fmt.Errorf("LISTEN_FDNAMES=%q: want %d names (FileDescriptorName= imap, imaps, lmtp or metrics in each socket unit)", names, n)
	}
	// Names first, so that a bad list touches no descriptor.
	seen := make(map[string]bool, n)
	for i, name := range nameList {
		switch name {
		case "imap", "imaps", "lmtp", "metrics":
		default:
			return nil, fmt.Errorf("socket %d is named %q: want imap, imaps, lmtp or metrics (FileDescriptorName=)", listenFDsStart+i, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("two sockets named %q: give each socket unit its own FileDescriptorName=", name)
		}
		seen[name] = true
	}
	lns := make(map[string]net.Listener, n)
	for i, name := range nameList {
		fd := listenFDsStart + i
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), name)
		ln, err := net.FileListener(f) // a duplicate of fd
		f.Close()
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			return nil, fmt.Errorf("socket %d (%s): %w", fd, name, err)
		}
		lns[name] = ln
	}
	return lns, nil
}

// notifier sends sd_notify(3) states to systemd; with no NOTIFY_SOCKET
// (not started by systemd, or Type= not notify) it does nothing.
type notifier struct {
	addr *net.UnixAddr // nil: nobody listens
}

// newNotifier reads NOTIFY_SOCKET and unsets it, so that no child sends
// states in the daemon's name.
func newNotifier() notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	if path == "" {
		return notifier{}
	}
	if path[0] == '@' { // an abstract socket
		path = "\x00" + path[1:]
	}
	return notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// notify sends one state, such as "READY=1".
func (n notifier) notify(state string) error {
	if n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %q: %w", state, err)
	}
	return nil
}

// reloading is the state sent as a reload starts: systemd 253 and later
// (Type=notify-reload) want the monotonic clock with it, to tell this
// reload from an earlier one.
func reloading() (string, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "", fmt.Errorf("sd_notify: monotonic clock: %w", err)
	}
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000), nil
}
