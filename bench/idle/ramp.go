package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
)

// rampResult says how opening the connections went.
type rampResult struct {
	Open       int     `json:"open"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"per_second"`
	Stopped    string  `json:"stopped,omitempty"` // why the ramp stopped early
}

// openAll opens connections from..to-1 into conns, c.Conc at a time. With
// idle set each ends in IDLE with its reader running; otherwise each logs
// out after SELECT (prewarm) and nil is stored. It stops early on ctx,
// -ramp-timeout or the memory guard. Slot i stays nil for a connection
// that failed.
func openAll(ctx context.Context, c *config, conns []*imapConn, from, to int, idle bool, lines *atomic.Int64, log *slog.Logger) rampResult {
	ctx, cancel := context.WithTimeout(ctx, c.RampTO)
	defer cancel()
	var (
		opened, failed atomic.Int64
		firstErr       atomic.Value
		stopped        atomic.Value
	)
	go memGuard(ctx, c.MemLimit, func(msg string) { stopped.Store(msg); cancel() })

	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range c.Conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				ic, err := openOne(ctx, c, i, idle, lines)
				if err != nil {
					if failed.Add(1) == 1 {
						firstErr.Store(fmt.Sprintf("connection %d: %v", i, err))
					}
					continue
				}
				conns[i] = ic
				if n := opened.Add(1); n%1000 == 0 {
					log.Info("ramp", "open", n, "errors", failed.Load(), "elapsed", time.Since(start).Round(time.Millisecond))
				}
			}
		}()
	}
feed:
	for i := from; i < to; i++ {
		if c.Rate > 0 {
			due := start.Add(time.Duration(float64(i-from) / c.Rate * float64(time.Second)))
			select {
			case <-time.After(time.Until(due)):
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	r := rampResult{Open: int(opened.Load()), Errors: int(failed.Load()), Seconds: time.Since(start).Seconds()}
	if v, ok := firstErr.Load().(string); ok {
		r.FirstError = v
	}
	if v, ok := stopped.Load().(string); ok {
		r.Stopped = v
	} else if ctx.Err() != nil && r.Open+r.Errors < to-from {
		r.Stopped = "ramp timeout or interrupted"
	}
	if r.Seconds > 0 {
		r.PerSecond = float64(r.Open) / r.Seconds
	}
	return r
}

// add sums two ramps run one after the other.
func (r rampResult) add(o rampResult) rampResult {
	s := rampResult{Open: r.Open + o.Open, Errors: r.Errors + o.Errors, Seconds: r.Seconds + o.Seconds,
		FirstError: r.FirstError, Stopped: r.Stopped}
	if s.FirstError == "" {
		s.FirstError = o.FirstError
	}
	if s.Stopped == "" {
		s.Stopped = o.Stopped
	}
	if s.Seconds > 0 {
		s.PerSecond = float64(s.Open) / s.Seconds
	}
	return s
}

func openOne(ctx context.Context, c *config, i int, idle bool, lines *atomic.Int64) (*imapConn, error) {
	ic, err := dialIMAP(ctx, c, i, c.userName(c.userOf(i)), lines)
	if err != nil {
		return nil, err
	}
	ic.quiet, ic.notify = c.Quiet, c.Notify
	if err := ic.setup(c, c.Password, idle); err != nil {
		ic.Close()
		return nil, fmt.Errorf("%s: %w", ic.user, err)
	}
	if !idle {
		ic.Timeout = c.StepTO
		err := ic.command("LOGOUT")
		ic.Close()
		if err != nil {
			return nil, err
		}
		return nil, nil
	}
	go ic.read()
	return ic, nil
}

// memGuard calls stop once the machine's used memory grew by more than
// limitGiB since it started; it returns when ctx ends.
func memGuard(ctx context.Context, limitGiB float64, stop func(string)) {
	base := procmem.UsedKiB()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if grew := procmem.UsedKiB() - base; float64(grew) > limitGiB*(1<<20) {
				stop(fmt.Sprintf("memory guard: used memory grew by %d MiB > %.1f GiB", grew>>10, limitGiB))
				return
			}
		}
	}
}

// closeAll ends every connection.
func closeAll(conns []*imapConn) {
	for _, ic := range conns {
		if ic != nil {
			ic.close()
		}
	}
	for _, ic := range conns {
		if ic != nil {
			select {
			case <-ic.done:
			case <-time.After(5 * time.Second):
			}
		}
	}
}
