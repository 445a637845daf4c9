package imapserver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dormouse/dormouse/internal/tls13rec"
)

// Metrics holds the server's Prometheus collectors. Create it with
// NewMetrics and register Collectors() with a registry; nothing is
// registered globally, so several servers (and tests) can coexist.
type Metrics struct {
	connections *prometheus.GaugeVec   // by state: active, idling, hibernated
	accepted    prometheus.Counter     // connections accepted
	commands    *prometheus.CounterVec // by command name and result (ok, no, bad)
	logins      *prometheus.CounterVec // by result (ok, failed)
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter

	hibernations   prometheus.Counter     // connections put to sleep
	wakes          *prometheus.CounterVec // by cause: client, mailbox
	wakeCommands   *prometheus.CounterVec // client wakes by the command that caused them
	keepaliveWakes *prometheus.CounterVec // those of them in answer to a keepalive
	closedAsleep   *prometheus.CounterVec // sleepers whose client closed, by how (closedEOF...)
	notHibernated  *prometheus.CounterVec // idling sessions kept active, by reason
	blobBytes      prometheus.Histogram   // state blob size at hibernation
	// hibernationsBy, refusedBy and keptBytes are hibernations,
	// refusals and the state kept per sleeper by transport
	// (transportLabel).
	hibernationsBy *prometheus.CounterVec
	refusedBy      *prometheus.CounterVec
	keptBytes      *prometheus.HistogramVec
	// tlsKeptConn counts TLS sleepers that kept their tls.Conn instead
	// of only their record state, by reason (tls13rec.Refusal).
	tlsKeptConn  *prometheus.CounterVec
	wakeSeconds  prometheus.Histogram   // a change's publication to its update written to a sleeper
	servedAsleep *prometheus.CounterVec // answered while asleep, by kind: reidle, update, command
	sleepSeconds prometheus.Histogram   // time spent hibernated, per sleep
	interrupted  *prometheus.CounterVec // commands stopped midway, by reason: client, shutdown
	diskFulls    prometheus.Counter     // commands refused for a full disk

	handoffs      prometheus.Counter     // proxied sessions handed to their proxy to sleep there
	handoffWatch  prometheus.Gauge       // mailboxes held watched for handed-off sessions
	handoffFull   prometheus.Counter     // handoffs whose mailbox found the watch bound reached
	resumes       *prometheus.CounterVec // proxied sessions resumed (XRESUME), by state: idle, between
	resumeRefused *prometheus.CounterVec // XRESUMEs refused, by reason

	upgradeMoved    prometheus.Counter     // connections taken over from the process this one replaced
	upgradeNotMoved *prometheus.CounterVec // connections that process closed instead, by reason
}

// NewMetrics returns a fresh set of collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "dormouse", Subsystem: "imap", Name: "connections",
			Help: "Open IMAP connections by state (active, idling, hibernated).",
		}, []string{"state"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dormouse", Subsystem: "imap", Name: "connections_accepted_total",
			Help: "IMAP connections accepted.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dormouse", Subsystem: "imap", Name: "commands_total",
			Help: "IMAP commands by name and result (ok, no, bad).",
		}, []string{"command", "result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dormouse", Subsystem: "imap", Name: "logins_total",
			Help: "Login attempts by result (ok, failed).",
		}, []string{"result"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dormouse", Subsystem: "imap", Name: "read_bytes_total",
			Help: "Bytes read from IMAP clients.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dormouse", Subsystem: "imap", Name: "written_bytes_total",
			Help: "Bytes written to IMAP clients.",
		}),
	}
	m.hibernations = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "hibernations_total",
		Help: "Connections hibernated (in IDLE or quiet between commands).",
	})
	m.wakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "wakes_total",
		Help: "Hibernated connections fully woken (session restored), by cause (client, mailbox).",
	}, []string{"cause"})
	m.wakeCommands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "wake_commands_total",
		Help: "Full wakes of hibernated connections decided on their client's input, by the command that caused them (after a DONE answered with it; \"UID FETCH\" etc. for UID commands; partial: no complete line in the first read; other: an unknown command). A client's close is not a wake: hibernated_closed_total.",
	}, []string{"command"})
	m.keepaliveWakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "keepalive_wakes_total",
		Help: "Full wakes of hibernated connections decided on client input that came between a keepalive (* OK Still here) and the client's next IDLE: the wakes keepalives cause, by command (labels as wake_commands_total, which counts them too).",
	}, []string{"command"})
	m.closedAsleep = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "hibernated_closed_total",
		Help: "Hibernated connections that their client closed while asleep, ended without a wake, by how: eof (the socket's end), close_notify (TLS: the client's close_notify or an error alert), error (a read error such as a reset).",
	}, []string{"how"})
	m.notHibernated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "hibernation_refused_total",
		Help: "Connections kept active when due to hibernate (in IDLE or between commands), by reason.",
	}, []string{"reason"})
	m.blobBytes = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "hibernation_blob_bytes",
		Help:    "Size of the exported session state of hibernated connections.",
		Buckets: prometheus.ExponentialBuckets(32, 2, 8),
	})
	m.hibernationsBy = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "hibernations_by_transport_total",
		Help: "IDLE connections hibernated, by transport (plain, tls13, tls12, compressed, tls13+compressed, tls12+compressed).",
	}, []string{"transport"})
	m.refusedBy = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "hibernation_refused_by_transport_total",
		Help: "Idling connections kept active when due to hibernate, by transport (as hibernations_by_transport_total).",
	}, []string{"transport"})
	m.keptBytes = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "hibernation_kept_bytes",
		Help:    "State kept per hibernated connection (its blob: for a compressed one with the inflate window), by transport.",
		Buckets: prometheus.ExponentialBuckets(32, 2, 11),
	}, []string{"transport"})
	m.tlsKeptConn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "hibernation_tls_kept_conn_total",
		Help: "TLS connections hibernated with their whole tls.Conn instead of their TLS 1.3 record state alone, by reason (tls12; or the record count could not be proven: tls_verify, tls_not_appdata, tls_record_big, tls_mid_record, tls_count, tls_keylog).",
	}, []string{"reason"})
	m.wakeSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "wake_seconds",
		Help:    "Time from a mailbox change's publication by the store (or its early announcement) to its update written to a hibernated connection.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
	})
	m.servedAsleep = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "hibernated_served_total",
		Help: "Requests answered by hibernated connections without waking, by kind (reidle: DONE and a new IDLE; update: a mailbox change sent in place; command: NOOP or CHECK between commands; notify: NOTIFY events of other mailboxes; held: part of a command, a compressed flush or a TLS record kept asleep until its rest came).",
	}, []string{"kind"})
	m.sleepSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "hibernated_seconds",
		Help:    "Time spent hibernated, per sleep (from hibernation to full wake or close; answers in place do not end a sleep).",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 12), // 1 ms to ~1.2 h
	})
	m.interrupted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "commands_interrupted_total",
		Help: "Commands stopped midway, by reason (client: the client left; shutdown: the shutdown bound passed).",
	}, []string{"reason"})
	for _, r := range []string{interruptClient, interruptShutdown} {
		m.interrupted.WithLabelValues(r)
	}
	m.diskFulls = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "disk_full_total",
		Help: "Commands answered NO [OVERQUOTA] because the disk or the file system's quota was full (ENOSPC, EDQUOT).",
	})
	m.handoffs = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "proxy_handoffs_total",
		Help: "Proxied sessions (XPROXY, XRESUME) handed to their proxy to sleep there (* XSLEEP) where a session would hibernate here.",
	})
	m.handoffWatch = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "proxy_handoff_watches",
		Help: "Mailboxes whose folders stay watched for sessions handed off to their proxy (one per user and mailbox, for the idle timeout after its latest handoff).",
	})
	m.handoffFull = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "proxy_handoff_watch_full_total",
		Help: "Handoffs whose mailbox was not held watched because handoff_watch_max mailboxes already were: other programs' writes there are seen only through hints or its next opening.",
	})
	m.resumes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "proxy_resumes_total",
		Help: "Proxied sessions resumed from a state blob (XRESUME), by state (idle: in IDLE; between: between commands).",
	}, []string{"state"})
	m.resumeRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "proxy_resume_refused_total",
		Help: "XRESUMEs refused, by reason (secret, client_address, blob, transport, user, uidvalidity, mailbox, store).",
	}, []string{"reason"})
	for _, st := range []string{"idle", "between"} {
		m.resumes.WithLabelValues(st)
	}
	for _, r := range []string{resumeRefusedSecret, resumeRefusedAddr, resumeRefusedBlob, resumeRefusedTransport, resumeRefusedUser, resumeRefusedUIDValidity, resumeRefusedMailbox, resumeRefusedStore} {
		m.resumeRefused.WithLabelValues(r)
	}
	m.upgradeMoved = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "upgrade_moved_total",
		Help: "IMAP connections taken over, still connected, from the process this one replaced (dormouse serve --takeover).",
	})
	m.upgradeNotMoved = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "upgrade_not_moved_total",
		Help: "IMAP connections the replaced process told BYE instead of handing them over, by reason (tls, active, error).",
	}, []string{"reason"})
	for _, r := range []string{NotMovedTLS, NotMovedActive, NotMovedError} {
		m.upgradeNotMoved.WithLabelValues(r)
	}
	for _, c := range []string{wakeClient, wakeMailbox} {
		m.wakes.WithLabelValues(c)
	}
	for _, r := range tls13rec.Refusals {
		m.tlsKeptConn.WithLabelValues(string(r))
	}
	m.tlsKeptConn.WithLabelValues(keptNoRecorder)
	for _, h := range []string{closedEOF, closedNotify, closedError} {
		m.closedAsleep.WithLabelValues(h)
	}
	for _, k := range []string{servedReidle, servedUpdate, servedCommand, servedHeld} {
		m.servedAsleep.WithLabelValues(k)
	}
	// Every state is exported from the start, at 0, so dashboards need
	// not guess whether a missing series means none.
	for _, s := range []string{"active", "idling", "hibernated"} {
		m.connections.WithLabelValues(s)
	}
	return m
}

// Collectors returns every collector, for prometheus.Registerer.MustRegister.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.connections, m.accepted, m.commands, m.logins, m.bytesIn, m.bytesOut,
		m.hibernations, m.wakes, m.wakeCommands, m.keepaliveWakes, m.closedAsleep, m.notHibernated, m.blobBytes, m.hibernationsBy, m.refusedBy, m.keptBytes, m.tlsKeptConn, m.wakeSeconds, m.servedAsleep, m.sleepSeconds,
		m.interrupted, m.diskFulls, m.handoffs, m.handoffWatch, m.handoffFull, m.resumes, m.resumeRefused, m.upgradeMoved, m.upgradeNotMoved}
}

// CountUpgrade records what the process this one replaced reported at the
// end of its handover (Server.Handover's result, passed over): moved
// connections and those it closed instead, by reason.
func (m *Metrics) CountUpgrade(moved int, notMoved map[string]int) {
	if m == nil {
		return
	}
	m.upgradeMoved.Add(float64(moved))
	for r, n := range notMoved {
		switch r {
		case NotMovedTLS, NotMovedActive, NotMovedError:
		default:
			r = NotMovedError // a label from another process: no new series
		}
		m.upgradeNotMoved.WithLabelValues(r).Add(float64(n))
	}
}

// The helpers below accept a nil *Metrics so that call sites need no checks.

func (m *Metrics) connState(state string, delta float64) {
	if m != nil {
		m.connections.WithLabelValues(state).Add(delta)
	}
}

func (m *Metrics) accept() {
	if m != nil {
		m.accepted.Inc()
	}
}

func (m *Metrics) command(name, result string) {
	if m != nil {
		m.commands.WithLabelValues(name, result).Inc()
	}
}

func (m *Metrics) login(ok bool) {
	if m != nil {
		r := "failed"
		if ok {
			r = "ok"
		}
		m.logins.WithLabelValues(r).Inc()
	}
}

func (m *Metrics) read(n int) {
	if m != nil && n > 0 {
		m.bytesIn.Add(float64(n))
	}
}

func (m *Metrics) wrote(n int) {
	if m != nil && n > 0 {
		m.bytesOut.Add(float64(n))
	}
}

func (m *Metrics) hibernated(blobLen int, transport string) {
	if m != nil {
		m.hibernations.Inc()
		m.blobBytes.Observe(float64(blobLen))
		m.hibernationsBy.WithLabelValues(transport).Inc()
		m.keptBytes.WithLabelValues(transport).Observe(float64(blobLen))
	}
}

func (m *Metrics) woke(cause string) {
	if m != nil {
		m.wakes.WithLabelValues(cause).Inc()
	}
}

// wokeBy counts a client's wake by the command that caused it
// (wakeCommand).
func (m *Metrics) wokeBy(command string) {
	if m != nil {
		m.wakeCommands.WithLabelValues(command).Inc()
	}
}

// keepaliveWake counts a client's wake in answer to a keepalive
// (hibernator.wokeBy).
func (m *Metrics) keepaliveWake(command string) {
	if m != nil {
		m.keepaliveWakes.WithLabelValues(command).Inc()
	}
}

// How a client closed a sleeper: the labels of hibernated_closed_total.
const (
	closedEOF    = "eof"
	closedNotify = "close_notify"
	closedError  = "error"
)

// closed counts a sleeper that its client closed (hibernator.closedByClient).
func (m *Metrics) closed(how string) {
	if m != nil {
		m.closedAsleep.WithLabelValues(how).Inc()
	}
}

// slept ends a sleep of d.
func (m *Metrics) slept(d time.Duration) {
	if m != nil {
		m.connections.WithLabelValues("hibernated").Add(-1)
		m.sleepSeconds.Observe(d.Seconds())
	}
}

// toldSleeper observes the latency of a change published at (zero:
// unknown) whose update was just written to a sleeper.
func (m *Metrics) toldSleeper(at time.Time) {
	if m != nil && !at.IsZero() {
		m.wakeSeconds.Observe(time.Since(at).Seconds())
	}
}

func (m *Metrics) served(kind string) {
	if m != nil {
		m.servedAsleep.WithLabelValues(kind).Inc()
	}
}

// keptTLSConn counts a TLS sleeper that kept its tls.Conn, by reason.
func (m *Metrics) keptTLSConn(reason string) {
	if m != nil {
		m.tlsKeptConn.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) refused(reason, transport string) {
	if m != nil {
		m.notHibernated.WithLabelValues(reason).Inc()
		m.refusedBy.WithLabelValues(transport).Inc()
	}
}

// Reasons a command is interrupted.
const (
	interruptClient   = "client"
	interruptShutdown = "shutdown"
)

func (m *Metrics) commandInterrupted(reason string) {
	if m != nil {
		m.interrupted.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) diskFull() {
	if m != nil {
		m.diskFulls.Inc()
	}
}

func (m *Metrics) handedOff() {
	if m != nil {
		m.handoffs.Inc()
	}
}

func (m *Metrics) handoffWatches(n int) {
	if m != nil {
		m.handoffWatch.Set(float64(n))
	}
}

func (m *Metrics) handoffWatchFull() {
	if m != nil {
		m.handoffFull.Inc()
	}
}

func (m *Metrics) resumed(idle bool) {
	if m == nil {
		return
	}
	st := "between"
	if idle {
		st = "idle"
	}
	m.resumes.WithLabelValues(st).Inc()
}

func (m *Metrics) resumeRefusedBy(reason string) {
	if m != nil {
		m.resumeRefused.WithLabelValues(reason).Inc()
	}
}
