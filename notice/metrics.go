package notice

import (
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what a Publisher does. A nil *Metrics counts nothing.
type Metrics struct {
	publishedTotal  prometheus.Counter
	droppedTotal    *prometheus.CounterVec
	reconnectsTotal prometheus.Counter
	connectedGauge  prometheus.GaugeFunc
	conn            connState
}

// NewMetrics makes the publisher's metrics; register Collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		publishedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dormouse", Subsystem: "notice", Name: "published_total",
			Help: "Change notices handed to the NATS client.",
		}),
		droppedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dormouse", Subsystem: "notice", Name: "dropped_total",
			Help: "Change notices not published: queue_full (the publishing goroutine fell behind), disconnected (NATS unreachable and the client's reconnect buffer full), invalid (a name beyond the notice's bounds), error.",
		}, []string{"reason"}),
		reconnectsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dormouse", Subsystem: "notice", Name: "nats_reconnects_total",
			Help: "Reconnections to NATS (each followed by a resync message to subscribers).",
		}),
	}
	m.connectedGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "dormouse", Subsystem: "notice", Name: "nats_connected",
		Help: "1 while the publisher is connected to a NATS server.",
	}, m.conn.connected)
	for _, r := range []string{dropQueueFull, dropDisconnected, dropInvalid, dropError} {
		m.droppedTotal.WithLabelValues(r)
	}
	return m
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.publishedTotal, m.droppedTotal, m.reconnectsTotal, m.connectedGauge}
}

func (m *Metrics) published() {
	if m != nil {
		m.publishedTotal.Inc()
	}
}

func (m *Metrics) drop(reason string) {
	if m != nil {
		m.droppedTotal.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) reconnected() {
	if m != nil {
		m.reconnectsTotal.Inc()
	}
}

func (m *Metrics) setConn(nc *nats.Conn) {
	if m != nil {
		m.conn.nc.Store(nc)
	}
}
