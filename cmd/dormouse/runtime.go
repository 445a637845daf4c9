package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/dormouse/dormouse/config"
)

// applyRuntime sets the Go runtime's soft memory limit from the
// configuration. Near the limit the runtime collects and returns memory by
// itself; set below what a burst of wakes needs, it costs about 5× the CPU
// per wake (docs/benchmarks.md), so it is off by default and the memory
// returner (internal/memreturn) gives the sleepers' heap back instead.
//
// It sets GOGC too: gc_percent, or the daemon's default unless GOGC is
// in the environment (config.DefaultGCPercent says why).
func applyRuntime(c config.Runtime, log *slog.Logger) {
	if c.MemoryLimit > 0 {
		debug.SetMemoryLimit(c.MemoryLimit)
		log.Info("memory limit set", "bytes", c.MemoryLimit)
	}
	gc := c.GCPercent
	if gc == 0 && os.Getenv("GOGC") == "" {
		gc = config.DefaultGCPercent
	}
	if gc > 0 {
		debug.SetGCPercent(gc)
	}
}
