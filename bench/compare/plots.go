package main

import (
	"fmt"
	"slices"

	"github.com/dormouse/dormouse/bench/internal/stats"
)

// configs are the four idle configurations, in plot order.
var configs = []struct {
	server string
	hib    bool
}{{"dovecot", false}, {"dovecot", true}, {"dormouse", false}, {"dormouse", true}}

// configName labels a configuration in a legend.
func configName(server string, hib bool) string {
	if hib {
		return server + ", hibernation on"
	}
	return server + ", hibernation off"
}

// memoryPlot is Pss per idle connection against N, one line per configuration.
func memoryPlot(r *results) plot {
	p := plot{Title: "Server memory per idle IMAP connection (Σ Pss / N)", XLabel: "idle connections N",
		YLabel: "KiB per connection (log)", LogY: true}
	for _, c := range configs {
		s := series{Name: configName(c.server, c.hib), Markers: true, Dashed: c.server == "dovecot"}
		for _, n := range r.Plan.IdleNs {
			if x, ok := r.idle(c.server, c.hib, n); ok {
				s.Points = append(s.Points, point{float64(n), x.PssPerConn / 1024})
			}
		}
		p.Series = append(p.Series, s)
	}
	return p
}

// wakePlot is the CDF of wake latency at the largest N, one line per
// configuration: every sample when bench/idle reports them, else the line
// through min, p50, p90, p99 and max.
func wakePlot(r *results) plot {
	n := 0
	if len(r.Plan.IdleNs) > 0 {
		n = slices.Max(r.Plan.IdleNs)
	}
	p := plot{Title: fmt.Sprintf("Wake latency, delivery → EXISTS, N=%s idle connections", thousands(n)),
		XLabel: "milliseconds (log)", YLabel: "fraction of wakes at or below", LogX: true}
	for _, c := range configs {
		x, ok := r.idle(c.server, c.hib, n)
		if !ok {
			continue
		}
		s := series{Name: configName(c.server, c.hib), Dashed: c.server == "dovecot"}
		if len(x.WakeSamples) > 0 {
			sorted := slices.Clone(x.WakeSamples)
			slices.Sort(sorted)
			s.Points, s.Step = cdf(sorted, 400), true
		} else {
			s.Points, s.Markers = quantilePoints(x.Wake), true
		}
		p.Series = append(p.Series, s)
	}
	return p
}

// quantilePoints are the CDF points a summary gives.
func quantilePoints(d stats.Dist) []point {
	if d.N == 0 {
		return nil
	}
	return []point{{d.Min, 1 / float64(d.N)}, {d.P50, 0.5}, {d.P90, 0.9}, {d.P99, 0.99}, {d.Max, 1}}
}

// activePlot is the CDF of command latency in the active workload.
func activePlot(r *results) plot {
	p := plot{Title: fmt.Sprintf("Active workload: command latency, %d clients", r.Plan.Clients),
		XLabel: "milliseconds (log)", YLabel: "fraction of commands at or below", LogX: true}
	for _, name := range []string{"dovecot", "dormouse"} {
		if a, ok := r.Active[name]; ok {
			p.Series = append(p.Series, series{Name: name, Points: cdf(a.SamplesMs, 400), Step: true, Dashed: name == "dovecot"})
		}
	}
	return p
}
