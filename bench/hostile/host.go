package main

import (
	"fmt"
	"runtime"
	"syscall"
)

// hostInfo names what the figures depend on: cores and the descriptor
// limit the server inherits.
func hostInfo() string {
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return fmt.Sprintf("%d cores, %d descriptors per process", runtime.NumCPU(), rl.Cur)
}
