package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/dormouse/dormouse/bench/internal/stats"
)

// fanoutRun is one delivery to the user every connection watches.
type fanoutRun struct {
	Got        int        `json:"got"` // connections that read EXISTS
	LastMS     float64    `json:"last_ms"`
	Dist       stats.Dist `json:"per_conn"`
	Hibernated *float64   `json:"hibernated_before,omitempty"`
}

// fanoutResult is the -fanout mode's result.
type fanoutResult struct {
	Method string      `json:"method"`
	Conns  int         `json:"conns"`
	Runs   []fanoutRun `json:"runs"`
}

// fanout delivers c.Repeats messages to the one user, each after the
// connections hibernated again, and times until every connection has it.
func fanout(ctx context.Context, c *config, m *meter, conns []*imapConn, log *slog.Logger) (fanoutResult, error) {
	d, method, err := newDeliverer(ctx, c)
	if err != nil {
		return fanoutResult{}, err
	}
	defer d.Close()
	var open []*imapConn
	for _, ic := range conns {
		if ic != nil {
			open = append(open, ic)
		}
	}
	r := fanoutResult{Method: method, Conns: len(open)}
	if len(open) == 0 {
		return r, nil
	}
	target := m.hibernatedNow(ctx)
	for k := range c.Repeats {
		if k > 0 {
			m.waitHibernated(ctx, c, target)
		}
		run := fanoutRun{Hibernated: m.metrics(ctx).Hibernated}
		for _, ic := range open {
			ic.drainExists()
		}
		t0, err := d.deliver(ctx, open[0].user)
		if err != nil {
			return r, err
		}
		deadline := t0.Add(c.WakeTO)
		var lat []time.Duration
		timeouts := 0
		for _, ic := range open {
			at, ok := ic.waitExists(deadline)
			if !ok {
				timeouts++
				continue
			}
			lat = append(lat, at.Sub(t0))
		}
		run.Got, run.Dist = len(lat), stats.New(lat, timeouts)
		run.LastMS = run.Dist.Max
		log.Info("fanout", "run", k+1, "got", run.Got, "of", len(open), "last_ms", run.LastMS, "p50_ms", run.Dist.P50)
		r.Runs = append(r.Runs, run)
	}
	return r, nil
}

// pollEvery is how often the hibernation gauge is read while waiting.
const pollEvery = 50 * time.Millisecond

// hibernatedNow reads the hibernated gauge; -1 without one.
func (m *meter) hibernatedNow(ctx context.Context) float64 {
	if h := m.metrics(ctx).Hibernated; h != nil {
		return *h
	}
	return -1
}

// waitHibernated waits until the hibernated gauge is back to target
// (bounded by -rehibernate-timeout), or, without the gauge, sleeps -settle.
// It returns how long it waited.
func (m *meter) waitHibernated(ctx context.Context, c *config, target float64) time.Duration {
	start := time.Now()
	if target < 0 {
		sleepCtx(ctx, c.Settle)
		return time.Since(start)
	}
	end := start.Add(c.RehibTO)
	for time.Now().Before(end) {
		if h := m.metrics(ctx).Hibernated; h == nil || *h >= target {
			break
		}
		if !sleepCtx(ctx, pollEvery) {
			break
		}
	}
	return time.Since(start)
}
