package main

import (
	"io"
	"log/slog"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// TestLogCounter: warnings and errors are counted by level, through
// loggers derived with With and WithGroup too; debug and info are not.
func TestLogCounter(t *testing.T) {
	lc := newLogCounter(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log := slog.New(lc)
	derived := log.With("component", "store").WithGroup("g")
	log.Debug("d")
	derived.Info("i")
	log.Warn("w")
	derived.Warn("w")
	derived.Error("e")
	for _, tc := range []struct {
		level string
		want  float64
	}{{"warn", 2}, {"error", 1}} {
		var m dto.Metric
		if err := lc.counts.WithLabelValues(tc.level).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != tc.want {
			t.Errorf("%s: %g, want %g", tc.level, got, tc.want)
		}
	}
}
