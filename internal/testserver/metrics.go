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

// Patience is how long WaitFor and WaitMetric wait for their condition:
// generous, as the machine running the tests may be busy. A condition that
// holds on a working server holds within milliseconds; a broken one fails
// the test after Patience.
const Patience = time.Minute

// WaitFor waits until cond holds, checking it every few milliseconds, and
// fails the test, naming what, if it does not within Patience.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Eventually(Patience, cond) {
		t.Fatalf("testserver: %s: not within %v", what, Patience)
	}
}

// Eventually reports whether cond holds within d, checking it every few
// milliseconds; for a goroutine other than the test's, which must not
// call t.Fatal.
func Eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// WaitMetric waits up to Patience until the series key (as Gather names
// it) of m equals want.
func WaitMetric(t testing.TB, m Collectors, key string, want float64) {
	t.Helper()
	var got float64
	if !Eventually(Patience, func() bool { got = Gather(t, m)[key]; return got == want }) {
		t.Fatalf("%s = %v, want %v (waited %v)", key, got, want, Patience)
	}
}
