package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/dormouse/dormouse/bench/internal/stats"
)

// wakeResult is the wake-latency run: delivery → "* N EXISTS".
type wakeResult struct {
	Method     string     `json:"method"` // rename or lmtp
	Deliveries int        `json:"deliveries"`
	Failed     int        `json:"failed_deliveries"`
	First      stats.Dist `json:"first_conn_of_user"`
	All        stats.Dist `json:"all_conns_of_user"`
	Seconds    float64    `json:"seconds"`
	// SamplesMs is every latency of All, in delivery order.
	SamplesMs []float64 `json:"samples_ms"`
}

// byUser groups the open connections by user number.
func byUser(c *config, conns []*imapConn) [][]*imapConn {
	g := make([][]*imapConn, c.Users)
	for _, ic := range conns {
		if ic != nil {
			u := c.userOf(ic.idx)
			g[u] = append(g[u], ic)
		}
	}
	return g
}

// wakeLatency delivers c.Deliveries messages one at a time, each to the
// next user (spread over all users), and times until each of that user's
// connections reads EXISTS.
func wakeLatency(ctx context.Context, c *config, conns []*imapConn, log *slog.Logger) (wakeResult, error) {
	d, method, err := newDeliverer(ctx, c)
	if err != nil {
		return wakeResult{}, err
	}
	defer d.Close()
	groups := byUser(c, conns)
	var users []int
	for u, g := range groups {
		if len(g) > 0 {
			users = append(users, u)
		}
	}
	r := wakeResult{Method: method}
	if len(users) == 0 {
		return r, nil
	}
	var first, all []time.Duration
	var firstTO, allTO int
	start := time.Now()
	for k := range c.Deliveries {
		if ctx.Err() != nil {
			break
		}
		// Distinct users spread over all of them; round robin when there
		// are more deliveries than users.
		u := users[k%len(users)]
		if c.Deliveries <= len(users) {
			u = users[k*len(users)/c.Deliveries]
		}
		g := groups[u]
		for _, ic := range g {
			ic.drainExists()
		}
		t0, err := d.deliver(ctx, g[0].user)
		r.Deliveries++
		if err != nil {
			r.Failed++
			log.Warn("delivery", "user", g[0].user, "err", err)
			continue
		}
		deadline := t0.Add(c.WakeTO)
		for j, ic := range g {
			at, ok := ic.waitExists(deadline)
			if !ok {
				allTO++
				if j == 0 {
					firstTO++
				}
				continue
			}
			all = append(all, at.Sub(t0))
			if j == 0 {
				first = append(first, at.Sub(t0))
			}
		}
		if (k+1)%100 == 0 {
			log.Info("wake", "deliveries", k+1, "first", stats.New(first, firstTO).String())
		}
		sleepCtx(ctx, c.Gap)
	}
	r.Seconds = time.Since(start).Seconds()
	r.First, r.All = stats.New(first, firstTO), stats.New(all, allTO)
	r.SamplesMs = make([]float64, len(all))
	for i, d := range all {
		r.SamplesMs[i] = float64(d.Microseconds()) / 1e3
	}
	return r, nil
}
