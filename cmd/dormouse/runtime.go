package main

import (
	"log/slog"
	"runtime/debug"

	"github.com/dormouse/dormouse/config"
)

// applyRuntime sets the Go runtime's soft memory limit from the
// configuration. Hibernation frees a session's heap when it goes to sleep,
// but a server whose sessions all sleep allocates too little to start a
// collection, so without a limit that heap stays resident until the
// runtime's forced collection (every two minutes) and its scavenger return
// it. With a limit, the runtime itself collects and returns memory to stay
// under it: no policy of the server's own is needed.
func applyRuntime(c config.Runtime, log *slog.Logger) {
	if c.MemoryLimit > 0 {
		debug.SetMemoryLimit(c.MemoryLimit)
		log.Info("memory limit set", "bytes", c.MemoryLimit)
	}
}
