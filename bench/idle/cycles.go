package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// cyclesResult is the -cycles mode's result: server CPU per full
// hibernate-and-wake cycle.
type cyclesResult struct {
	Conns         int      `json:"conns"`
	Rounds        int      `json:"rounds"`
	Cycles        int      `json:"cycles"` // completed DONE/NOOP/IDLE exchanges
	Errors        int      `json:"errors"`
	FirstError    string   `json:"first_error,omitempty"`
	Seconds       float64  `json:"seconds"`
	CPUSeconds    float64  `json:"server_cpu_seconds"`
	IdleCPUPerSec float64  `json:"server_idle_cpu_per_second"` // same polling, no cycles
	CPUPerCycleUS float64  `json:"cpu_per_cycle_us"`           // idle CPU subtracted
	CyclesPerCore float64  `json:"cycles_per_second_per_core"`
	Hibernations  *float64 `json:"hibernations,omitempty"` // server counter delta
	RehibWaitMS   float64  `json:"rehibernate_wait_ms_mean"`
	// After is the server -settle after the last round: what a burst of
	// full wakes left resident.
	After *snapshot `json:"after,omitempty"`
}

// cycles runs c.Cycles rounds; in each, every connection ends IDLE, runs
// NOOP and IDLEs again, then the tool waits for all to hibernate again.
func cycles(ctx context.Context, c *config, m *meter, conns []*imapConn, log *slog.Logger) cyclesResult {
	var open []*imapConn
	for _, ic := range conns {
		if ic != nil {
			open = append(open, ic)
		}
	}
	r := cyclesResult{Conns: len(open)}
	if len(open) == 0 || m.pid <= 0 {
		r.FirstError = "no connections or no -server-pid"
		return r
	}
	target := m.hibernatedNow(ctx)

	// Idle CPU with the same gauge polling, to subtract.
	idle0, w0 := m.cpu(), time.Now()
	for time.Since(w0) < c.IdleWindow && ctx.Err() == nil {
		m.hibernatedNow(ctx)
		sleepCtx(ctx, pollEvery)
	}
	r.IdleCPUPerSec = (m.cpu() - idle0).Seconds() / time.Since(w0).Seconds()

	hib0 := m.metrics(ctx).HibTotal
	cpu0, start := m.cpu(), time.Now()
	var waited time.Duration
	var failed atomic.Int64
	var firstErr atomic.Value
	var done atomic.Int64
	for round := range c.Cycles {
		if ctx.Err() != nil {
			break
		}
		jobs := make(chan *imapConn)
		var wg sync.WaitGroup
		for range min(c.Conc, len(open)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ic := range jobs {
					if err := ic.cycle(round, c.CycleCmd, c.StepTO); err != nil {
						if failed.Add(1) == 1 {
							firstErr.Store(fmt.Sprintf("round %d, %s: %v", round, ic.user, err))
						}
						continue
					}
					done.Add(1)
				}
			}()
		}
		for _, ic := range open {
			jobs <- ic
		}
		close(jobs)
		wg.Wait()
		r.Rounds++
		waited += m.waitHibernated(ctx, c, target)
		if (round+1)%10 == 0 {
			log.Info("cycles", "rounds", round+1, "cycles", done.Load(), "errors", failed.Load())
		}
	}
	r.Seconds = time.Since(start).Seconds()
	r.CPUSeconds = (m.cpu() - cpu0).Seconds()
	r.Cycles, r.Errors = int(done.Load()), int(failed.Load())
	if v, ok := firstErr.Load().(string); ok {
		r.FirstError = v
	}
	if hib1 := m.metrics(ctx).HibTotal; hib0 != nil && hib1 != nil {
		d := *hib1 - *hib0
		r.Hibernations = &d
	}
	if r.Rounds > 0 {
		r.RehibWaitMS = float64(waited.Milliseconds()) / float64(r.Rounds)
	}
	if r.Cycles > 0 {
		net := r.CPUSeconds - r.IdleCPUPerSec*r.Seconds
		r.CPUPerCycleUS = net / float64(r.Cycles) * 1e6
		if net > 0 {
			r.CyclesPerCore = float64(r.Cycles) / net
		}
	}
	return r
}
