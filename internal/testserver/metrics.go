package testserver

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collectors is a set of metrics, such as imapserver.Metrics and
// imapserver.GuardMetrics.
type Collectors interface {
	Collectors() []prometheus.Collector
}

// Gather reads every series of m into a map keyed by the metric name and
// its labels in order, "name,label=value,...": counters and gauges by
// value, histograms as key_count and key_sum.
func Gather(t testing.TB, m Collectors) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range s.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case s.Counter != nil:
				got[key] = s.GetCounter().GetValue()
			case s.Gauge != nil:
				got[key] = s.GetGauge().GetValue()
			case s.Histogram != nil:
				got[key+"_count"] = float64(s.GetHistogram().GetSampleCount())
				got[key+"_sum"] = s.GetHistogram().GetSampleSum()
			}
		}
	}
	return got
}

// WaitMetric waits up to 5 s until the series key (as Gather names it)
// of m equals want.
func WaitMetric(t testing.TB, m Collectors, key string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := Gather(t, m)[key]
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", key, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
