package proxy

import "github.com/prometheus/client_golang/prometheus"

// Why a sleeper woke (metric label).
const (
	wakeClient = "client" // its client sent what the proxy does not answer asleep
	wakeNotice = "notice" // a change notice concerns it
	wakeResync = "resync" // every IDLE/NOTIFY sleeper after a NATS reconnect
)

// metrics are the proxy's Prometheus collectors.
type metrics struct {
	logins      *prometheus.CounterVec
	sleeps      prometheus.Counter
	answered    prometheus.Counter
	wakes       *prometheus.CounterVec
	unavailable prometheus.Counter
	notices     prometheus.Counter
	noticeLag   prometheus.Histogram
	hops        *prometheus.CounterVec
	routes      *prometheus.CounterVec
	sleepers    prometheus.GaugeFunc
	users       prometheus.GaugeFunc
}

func newMetrics(p *Proxy) *metrics {
	const ns, sub = "dormouse", "proxy"
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "logins_total",
			Help: "Logins at the proxy, by result (ok, failed, unavailable: the backend could not be reached).",
		}, []string{"result"}),
		sleeps: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "sleeps_total",
			Help: "Sessions a backend handed over (* XSLEEP) that went to sleep at the proxy.",
		}),
		answered: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "answered_asleep_total",
			Help: "Client input answered asleep at the proxy (DONE, IDLE) without a backend.",
		}),
		wakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "wakes_total",
			Help: "Sleepers woken on a backend (XRESUME), by reason (client, notice, resync).",
		}, []string{"reason"}),
		unavailable: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "backend_unavailable_total",
			Help: "Backend connections that failed (the client was told NO or BYE [UNAVAILABLE]).",
		}),
		notices: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "notices_total",
			Help: "Change notices received.",
		}),
		noticeLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "notice_lag_seconds",
			Help:    "From the store's change to the notice's arrival at the proxy.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		hops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "hops_total",
			Help: "Backend hops opened, by backend address and command (xproxy: a login, xresume: a wake or a session handed over and resumed at once).",
		}, []string{"backend", "command"}),
		routes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "routes_total",
			Help: "Users routed, by what named the backend (kv: the user map, hash: rendezvous hashing).",
		}, []string{"source"}),
		sleepers: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "sleepers",
			Help: "Clients asleep at the proxy (no backend connection).",
		}, func() float64 { return float64(p.Sleepers()) }),
		users: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "users",
			Help: "Users with a session at the proxy (each one notice subscription).",
		}, func() float64 { return float64(p.users.len()) }),
	}
	for _, r := range []string{wakeClient, wakeNotice, wakeResync} {
		m.wakes.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "failed", "unavailable"} {
		m.logins.WithLabelValues(r)
	}
	for _, r := range []string{"kv", "hash"} {
		m.routes.WithLabelValues(r)
	}
	return m
}

// Collectors returns the proxy's metrics, to register.
func (p *Proxy) Collectors() []prometheus.Collector {
	m := p.metrics
	return []prometheus.Collector{m.logins, m.sleeps, m.answered, m.wakes, m.unavailable, m.notices, m.noticeLag, m.hops, m.routes, m.sleepers, m.users}
}
