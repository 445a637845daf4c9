// Package stats summarizes latency samples.
package stats

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Dist is a latency distribution in milliseconds.
type Dist struct {
	N        int     `json:"n"`
	Timeouts int     `json:"timeouts"`
	Min      float64 `json:"min_ms"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	Mean     float64 `json:"mean_ms"`
}

// New summarizes samples; timeouts counts the samples that never came.
// Quantiles are nearest-rank: the smallest sample with at least p of the
// samples at or below it.
func New(samples []time.Duration, timeouts int) Dist {
	d := Dist{N: len(samples), Timeouts: timeouts}
	if len(samples) == 0 {
		return d
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return ms(s[max(i, 0)])
	}
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	d.Min, d.Max = ms(s[0]), ms(s[len(s)-1])
	d.P50, d.P90, d.P99 = q(0.5), q(0.9), q(0.99)
	d.Mean = ms(sum / time.Duration(len(s)))
	return d
}

// ms converts to milliseconds rounded to 0.001 (1 µs).
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// String formats d on one line.
func (d Dist) String() string {
	return fmt.Sprintf("n=%d timeouts=%d min=%.3f p50=%.3f p90=%.3f p99=%.3f max=%.3f mean=%.3f ms",
		d.N, d.Timeouts, d.Min, d.P50, d.P90, d.P99, d.Max, d.Mean)
}
