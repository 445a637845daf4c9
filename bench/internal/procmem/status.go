package procmem

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// StatusKiB reads one "Name:  123 kB" field of /proc/PID/status (VmRSS,
// VmHWM, ...), in KiB.
func StatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("procmem: %w", err)
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(ln, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			v, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("procmem: status %s: %w", field, err)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("procmem: status of %d has no %s", pid, field)
}

// ResetPeak resets the process's peak resident set (VmHWM) to its current
// resident set, so that a later VmHWM is the peak of what came after. It
// writes 5 to /proc/PID/clear_refs (Linux 4.0 and later; the process must
// be the caller's or the caller root).
func ResetPeak(pid int) error {
	err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
	if err != nil {
		return fmt.Errorf("procmem: reset peak: %w", err)
	}
	return nil
}

// FDs counts the open file descriptors of a process.
func FDs(pid int) (int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, fmt.Errorf("procmem: %w", err)
	}
	return len(ents), nil
}
