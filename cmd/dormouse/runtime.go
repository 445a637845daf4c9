package main

import (
	"context"
	"log/slog"
	"math"
	"runtime/debug"

	"github.com/dormouse/dormouse/config"
	"github.com/dormouse/dormouse/internal/memreturn"
)

// applyRuntime sets the Go runtime's soft memory limit from the
// configuration. Near the limit the runtime collects and returns memory by
// itself; set below what a burst of wakes needs, it costs about 5× the CPU
// per wake (docs/benchmarks.md), so it is off by default and the memory
// returner (internal/memreturn) gives the sleepers' heap back instead;
// a limit that follows the heap (followHeap, memory_follow) is the other
// option. GOGC likewise is set only when gc_percent is.
func applyRuntime(c config.Runtime, log *slog.Logger) {
	if c.MemoryLimit > 0 {
		debug.SetMemoryLimit(c.MemoryLimit)
		log.Info("memory limit set", "bytes", c.MemoryLimit)
	}
	if c.GCPercent > 0 {
		debug.SetGCPercent(c.GCPercent)
		log.Info("GOGC set", "percent", c.GCPercent)
	}
}

// followHeap runs the soft memory limit that follows the heap
// (internal/memreturn's Follower) until ctx ends, if memory_follow is on
// and no fixed limit is set (memory_limit, GOMEMLIMIT: the operator's
// limit wins). Call it after applyRuntime.
func followHeap(ctx context.Context, c config.Runtime, log *slog.Logger) {
	if !c.MemoryFollow || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		return
	}
	log.Debug("memory limit follows the heap")
	memreturn.NewFollower().Run(ctx)
}
