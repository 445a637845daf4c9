package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// logCounter counts the warnings and errors the daemon logs, by level, as
// dormouse_log_messages_total: every failure the server notices (a
// delivery or command that failed inside, a store or TLS error, a client
// dropped for an I/O error) is logged once where it is decided, so the
// count is the operator's error rate without a metric per failure.
type logCounter struct {
	slog.Handler
	counts *prometheus.CounterVec
}

// newLogCounter wraps h; register counts with the metrics registry.
func newLogCounter(h slog.Handler) *logCounter {
	c := &logCounter{Handler: h, counts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Name: "log_messages_total",
		Help: "Log records written at level warn or error.",
	}, []string{"level"})}
	// Exported at 0 from the start, so that rate() works before the first.
	for _, l := range []slog.Level{slog.LevelWarn, slog.LevelError} {
		c.counts.WithLabelValues(levelLabel(l))
	}
	return c
}

// Handle counts r (when enabled, which the caller checked) and passes it on.
func (c *logCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		c.counts.WithLabelValues(levelLabel(r.Level)).Inc()
	}
	return c.Handler.Handle(ctx, r)
}

// WithAttrs keeps the counting on loggers derived with With.
func (c *logCounter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logCounter{Handler: c.Handler.WithAttrs(attrs), counts: c.counts}
}

// WithGroup keeps the counting on loggers derived with WithGroup.
func (c *logCounter) WithGroup(name string) slog.Handler {
	return &logCounter{Handler: c.Handler.WithGroup(name), counts: c.counts}
}

func levelLabel(l slog.Level) string {
	if l >= slog.LevelError {
		return "error"
	}
	return "warn"
}
