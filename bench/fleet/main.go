// Command fleet runs thousands of simulated IMAP clients with the
// connection habits of real ones (Thunderbird, a desktop client, phones,
// a sync tool, a NOTIFY client, a webmail) against a server, and reports
// how many of their connections sleep, what a connection costs, how fast
// each kind hears of new mail, and why the server kept connections
// awake. run.sh runs it against a freshly built Dormouse; README.md says
// what each kind does and why the default mix.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dormouse/dormouse/bench/internal/mda"
	"github.com/dormouse/dormouse/bench/internal/procmem"
	"github.com/dormouse/dormouse/bench/internal/promtext"
	"github.com/dormouse/dormouse/bench/internal/stats"
)

func main() {
	c, err := parseFlags(newFlagSet(), os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, c, log)
	if err != nil {
		log.Error("fleet", "err", err)
		os.Exit(1)
	}
	res.print(os.Stdout)
	if c.JSON != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(c.JSON, append(b, '\n'), 0o644); err != nil {
			log.Error("write json", "err", err)
			os.Exit(1)
		}
	}
}

// results is what a run reports (and writes as JSON).
type results struct {
	Config   *config                `json:"config"`
	Start    time.Time              `json:"start"`
	Kinds    map[string]*kindResult `json:"kinds"`
	Measures []measure              `json:"measures"` // after each ramp step's settle
	// PssPerConn is (Pss after all − baseline) / long-lived connections;
	// PssSecondHalf (with -halfway) the second half's growth per
	// connection of it, in bytes.
	PssPerConn    float64            `json:"pss_per_conn_bytes,omitempty"`
	PssSecondHalf float64            `json:"pss_second_half_per_conn_bytes,omitempty"`
	Hold          *holdResult        `json:"hold,omitempty"`
	Refused       map[string]float64 `json:"refused_by_reason"`
	Notes         []string           `json:"notes,omitempty"`
}

// kindResult is one kind's part.
type kindResult struct {
	Clients    int64      `json:"clients"`
	LongLived  int64      `json:"long_lived_open"`
	Keepalives int64      `json:"keepalives_answered"`
	Sessions   int64      `json:"short_sessions"`
	Reconnects int64      `json:"reconnects"`
	Compressed int64      `json:"compressed_connections"`
	Skipped    int64      `json:"skipped"`
	Failed     int64      `json:"failed"`
	LastError  string     `json:"last_error,omitempty"`
	Latency    stats.Dist `json:"latency"`
	// SeenInCommand is how many of the deliveries seen came in a
	// command's responses (a keepalive answer's NOOP), not in IDLE.
	SeenInCommand int64 `json:"seen_in_command"`
}

// measure is the server and the fleet at one moment.
type measure struct {
	At         time.Time     `json:"at"`
	Clients    int           `json:"clients"`
	LongLived  int64         `json:"long_lived_conns"` // the fleet's, open
	Busy       int64         `json:"busy_conns"`       // in a command or short session
	Hibernated float64       `json:"hibernated"`
	Active     float64       `json:"active"`
	Idling     float64       `json:"idling"`
	Tree       *procmem.Tree `json:"tree,omitempty"`
}

// holdResult is what -hold counted.
type holdResult struct {
	Duration        time.Duration      `json:"duration_ns"`
	WakesByCause    map[string]float64 `json:"wakes_by_cause"`
	WakesByCommand  map[string]float64 `json:"wakes_by_command"`
	KeepaliveWakes  map[string]float64 `json:"keepalive_wakes_by_command"`
	ServedAsleep    map[string]float64 `json:"served_asleep_by_kind"`
	WakesPerConnHr  float64            `json:"client_wakes_per_conn_hour"`
	MinAsleepShare  float64            `json:"min_asleep_share"`
	LastAsleepShare float64            `json:"last_asleep_share"`
	ClosedAsleep    map[string]float64 `json:"closed_asleep_by_how"`
	Memory          *holdMemory        `json:"memory,omitempty"`
}

// holdMemory is the server's memory over the hold, sampled with the
// asleep share. One sample after the settle may fall on a burst (a round
// of keepalives answered together, a wave of syncs): the median of the
// hold's samples is what the running fleet costs.
type holdMemory struct {
	Samples int `json:"samples"`
	// Per long-lived connection, over the baseline before the ramp, in
	// bytes: Pss (median, min, max), and the medians of its anonymous
	// and file-backed parts.
	PssMedian  float64 `json:"pss_per_conn_median_bytes"`
	PssMin     float64 `json:"pss_per_conn_min_bytes"`
	PssMax     float64 `json:"pss_per_conn_max_bytes"`
	AnonMedian float64 `json:"pss_anon_per_conn_median_bytes"`
	FileMedian float64 `json:"pss_file_per_conn_median_bytes"`
	// The users' index files (-index-suffix) mapped by the server:
	// files and their Pss, medians.
	IndexFiles  float64 `json:"index_files_median"`
	IndexPssKiB float64 `json:"index_pss_kib_median"`
}

// median returns the median of v (which it sorts), 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

func run(ctx context.Context, c *config, log *slog.Logger) (*results, error) {
	f := newFleet(c, log)
	res := &results{Config: c, Start: time.Now().UTC(), Kinds: map[string]*kindResult{}}
	m := &meter{c: c, http: &http.Client{Timeout: 10 * time.Second}, log: log}
	base := m.take(ctx, f, 0)
	base.LongLived = 0
	res.Measures = append(res.Measures, base)

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	kinds := f.assign()
	steps := []int{c.Users}
	if c.Halfway {
		steps = []int{c.Users / 2, c.Users}
	}
	from := 0
	for _, to := range steps {
		if err := f.ramp(runCtx, &wg, kinds, from, to); err != nil {
			return nil, err
		}
		from = to
		log.Info("ramped; settling", "clients", to, "settle", c.Settle)
		if err := sleep(ctx, c.Settle); err != nil {
			return nil, err
		}
		res.Measures = append(res.Measures, m.take(ctx, f, to))
	}
	last := res.Measures[len(res.Measures)-1]
	if last.Tree != nil && base.Tree != nil && last.LongLived > 0 {
		res.PssPerConn = float64(last.Tree.PssKiB-base.Tree.PssKiB) * 1024 / float64(last.LongLived)
	}
	if c.Halfway && len(res.Measures) == 3 {
		half := res.Measures[1]
		if half.Tree != nil && last.Tree != nil && last.LongLived > half.LongLived {
			res.PssSecondHalf = float64(last.Tree.PssKiB-half.Tree.PssKiB) * 1024 / float64(last.LongLived-half.LongLived)
		}
	}
	if c.Deliveries > 0 {
		if err := f.deliverAll(ctx, kinds); err != nil {
			return nil, err
		}
	}
	if c.Hold > 0 {
		h, err := f.hold(ctx, m, base.Tree)
		if err != nil {
			return nil, err
		}
		res.Hold = h
	}
	res.Refused = m.series(ctx, "dormouse_imap_hibernation_refused_total", "reason")
	for _, k := range allKinds() {
		s := f.stats[k.name]
		s.mu.Lock()
		res.Kinds[k.name] = &kindResult{
			Clients: s.clients.Load(), LongLived: s.open.Load(), Keepalives: s.keepalives.Load(),
			Sessions: s.sessions.Load(), Reconnects: s.reconnects.Load(), Compressed: s.compressed.Load(),
			Skipped: s.skipped.Load(), Failed: s.failed.Load(), LastError: s.lastErr,
			Latency: stats.New(s.latency, s.misses), SeenInCommand: s.seenInCommand.Load(),
		}
		s.mu.Unlock()
		if s.skipped.Load() > 0 && k.name == "notify" {
			res.Notes = append(res.Notes, "notify: the server does not offer NOTIFY (or -no-notify): its clients were skipped")
		}
	}
	if c.NoTLS {
		res.Notes = append(res.Notes, "-no-tls: the kinds that use TLS ran in plain text")
	}
	return res, nil
}

// ramp starts the clients from..to-1, -concurrency at a time (each start
// is a goroutine that lives on; the ramp waits only for a bounded pace),
// then waits until their long-lived connections are open.
func (f *fleet) ramp(ctx context.Context, wg *sync.WaitGroup, kinds []*kind, from, to int) error {
	c := f.c
	deadline := time.Now().Add(c.RampTO)
	var gap time.Duration
	if c.Rate > 0 {
		gap = time.Duration(float64(time.Second) / c.Rate)
	}
	want := int64(0)
	for i := 0; i < to; i++ {
		want += int64(kinds[i].longLived)
	}
	for i := from; i < to; i++ {
		f.start(ctx, wg, i, kinds[i])
		if gap > 0 {
			if err := sleep(ctx, gap); err != nil {
				return err
			}
		}
		// Bound the setups in flight: wait while too many are busy.
		for {
			open, _ := f.counts()
			started := int64(0)
			for j := 0; j <= i; j++ {
				started += int64(kinds[j].longLived)
			}
			if started-open-f.lostConns() < int64(c.Conc)*5 || time.Now().After(deadline) {
				break
			}
			if err := sleep(ctx, 5*time.Millisecond); err != nil {
				return err
			}
		}
	}
	for {
		open, _ := f.counts()
		if open >= want-f.lostConns() || time.Now().After(deadline) {
			if open < want-f.lostConns() {
				return fmt.Errorf("ramp: %d of %d long-lived connections open after %v", open, want, c.RampTO)
			}
			return nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// lostConns counts the long-lived connections of clients that failed or
// were skipped: the ramp does not wait for them.
func (f *fleet) lostConns() int64 {
	var n int64
	for _, k := range allKinds() {
		s := f.stats[k.name]
		n += (s.failed.Load() + s.skipped.Load()) * int64(k.longLived)
	}
	return n
}

// deliverAll delivers -deliveries messages one at a time, round-robin
// over the kinds that watch INBOX, each to the next user of that kind
// that has a watching connection, and times until that user's client
// sees the EXISTS.
func (f *fleet) deliverAll(ctx context.Context, kinds []*kind) error {
	byKind := map[string][]string{}
	f.mu.Lock()
	for i, k := range kinds {
		if u := f.c.user(i); k.watches && f.watchers[u] > 0 {
			byKind[k.name] = append(byKind[k.name], u)
		}
	}
	f.mu.Unlock()
	var order []string
	for _, k := range allKinds() {
		if len(byKind[k.name]) > 0 {
			order = append(order, k.name)
		}
	}
	if len(order) == 0 {
		return fmt.Errorf("deliveries: no client watches INBOX")
	}
	next := map[string]int{}
	d := &mda.Maildir{Fmt: f.c.MaildirFmt, Tool: "bench-fleet"}
	for n := 0; n < f.c.Deliveries; n++ {
		kind := order[n%len(order)]
		users := byKind[kind]
		user := users[next[kind]%len(users)]
		next[kind]++
		p := f.expect(user)
		t0, err := d.Deliver(user)
		if err != nil {
			return err
		}
		st := f.stats[kind]
		select {
		case at := <-p.seen:
			st.mu.Lock()
			st.latency = append(st.latency, at.Sub(t0))
			st.mu.Unlock()
		case <-time.After(f.c.WakeTO):
			f.forget(user)
			st.mu.Lock()
			st.misses++
			st.mu.Unlock()
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// hold lets the fleet run for -hold, sampling the share asleep every 5
// s, and counts the wakes meanwhile.
func (f *fleet) hold(ctx context.Context, m *meter, base *procmem.Tree) (*holdResult, error) {
	before := m.all(ctx)
	h := &holdResult{Duration: f.c.Hold, MinAsleepShare: 1}
	var pss, anon, file, idxFiles, idxPss []float64
	end := time.Now().Add(f.c.Hold)
	for time.Now().Before(end) {
		if err := sleep(ctx, min(5*time.Second, time.Until(end))); err != nil {
			return nil, err
		}
		s := m.take(ctx, f, 0)
		if share, ok := s.asleepShare(); ok {
			h.MinAsleepShare = min(h.MinAsleepShare, share)
			h.LastAsleepShare = share
		}
		if s.Tree != nil && base != nil && s.LongLived > 0 {
			per := func(kib, baseKiB int64) float64 { return float64(kib-baseKiB) * 1024 / float64(s.LongLived) }
			pss = append(pss, per(s.Tree.PssKiB, base.PssKiB))
			anon = append(anon, per(s.Tree.PssAnonKiB, base.PssAnonKiB))
			file = append(file, per(s.Tree.PssFileKiB, base.PssFileKiB))
			if ix, err := procmem.MappedFiles(f.c.ServerPID, f.c.IndexSuffix); err == nil {
				idxFiles = append(idxFiles, float64(ix.Files))
				idxPss = append(idxPss, float64(ix.PssKiB))
			}
		}
	}
	if len(pss) > 0 {
		mid := median(pss) // sorts pss
		h.Memory = &holdMemory{Samples: len(pss), PssMedian: mid, PssMin: pss[0], PssMax: pss[len(pss)-1],
			AnonMedian: median(anon), FileMedian: median(file), IndexFiles: median(idxFiles), IndexPssKiB: median(idxPss)}
	}
	after := m.all(ctx)
	diff := func(prefix, label string) map[string]float64 {
		out := map[string]float64{}
		for k, v := range after {
			if rest, ok := strings.CutPrefix(k, prefix+"{"+label+`="`); ok {
				name := strings.TrimSuffix(rest, `"}`)
				if d := v - before[k]; d != 0 {
					out[name] = d
				}
			}
		}
		return out
	}
	h.WakesByCause = diff("dormouse_imap_wakes_total", "cause")
	h.WakesByCommand = diff("dormouse_imap_wake_commands_total", "command")
	h.KeepaliveWakes = diff("dormouse_imap_keepalive_wakes_total", "command")
	h.ServedAsleep = diff("dormouse_imap_hibernated_served_total", "kind")
	h.ClosedAsleep = diff("dormouse_imap_hibernated_closed_total", "how")
	open, _ := f.counts()
	if open > 0 {
		h.WakesPerConnHr = h.WakesByCause["client"] / float64(open) / f.c.Hold.Hours()
	}
	return h, nil
}

// asleepShare is hibernated / long-lived connections not busy.
func (s measure) asleepShare() (float64, bool) {
	quiet := float64(s.LongLived - s.Busy)
	if quiet <= 0 {
		return 0, false
	}
	return min(1, s.Hibernated/quiet), true
}

// meter reads the server: its process tree and its metrics.
type meter struct {
	c    *config
	http *http.Client
	log  *slog.Logger
}

func (m *meter) all(ctx context.Context) promtext.Samples {
	if m.c.Metrics == "" {
		return promtext.Samples{}
	}
	s, err := promtext.Fetch(ctx, m.http, m.c.Metrics)
	if err != nil {
		m.log.Warn("metrics", "err", err)
		return promtext.Samples{}
	}
	return s
}

// series returns the values of metric name by label.
func (m *meter) series(ctx context.Context, name, label string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m.all(ctx) {
		if rest, ok := strings.CutPrefix(k, name+"{"+label+`="`); ok {
			out[strings.TrimSuffix(rest, `"}`)] = v
		}
	}
	return out
}

func (m *meter) take(ctx context.Context, f *fleet, clients int) measure {
	s := m.all(ctx)
	open, busy := f.counts()
	r := measure{At: time.Now().UTC(), Clients: clients, LongLived: open, Busy: busy,
		Hibernated: s.Value(`dormouse_imap_connections{state="hibernated"}`),
		Active:     s.Value(`dormouse_imap_connections{state="active"}`),
		Idling:     s.Value(`dormouse_imap_connections{state="idling"}`),
	}
	if m.c.ServerPID > 0 {
		t, err := procmem.Measure(m.c.ServerPID)
		if err != nil {
			m.log.Warn("measure server", "err", err)
		} else {
			r.Tree = &t
		}
	}
	return r
}

// print writes the report as a table.
func (r *results) print(w *os.File) {
	fmt.Fprintf(w, "fleet: %d users, mix %s, %s\n", r.Config.Users, r.Config.MixText, r.Config.Label)
	for _, ms := range r.Measures[1:] {
		share, _ := ms.asleepShare()
		fmt.Fprintf(w, "after %d clients settled: long-lived conns %d (busy %d), server: hibernated %.0f, active %.0f, idling %.0f → asleep %.2f%%",
			ms.Clients, ms.LongLived, ms.Busy, ms.Hibernated, ms.Active, ms.Idling, 100*share)
		if ms.Tree != nil {
			fmt.Fprintf(w, ", Pss %d KiB", ms.Tree.PssKiB)
		}
		fmt.Fprintln(w)
	}
	if r.PssPerConn != 0 {
		fmt.Fprintf(w, "Pss per long-lived connection: %.0f B", r.PssPerConn)
		if r.PssSecondHalf != 0 {
			fmt.Fprintf(w, "; second half: %.0f B", r.PssSecondHalf)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%-12s %7s %9s %10s %9s %9s %10s %7s %6s  %s\n", "kind", "clients", "longlived", "keepalives", "sessions", "reconnect", "compressed", "skipped", "failed", "wake latency (delivery → EXISTS)")
	for _, k := range allKinds() {
		kr := r.Kinds[k.name]
		if kr == nil || kr.Clients == 0 {
			continue
		}
		lat := "-"
		if kr.Latency.N > 0 || kr.Latency.Timeouts > 0 {
			lat = kr.Latency.String()
		}
		if kr.SeenInCommand > 0 {
			lat += fmt.Sprintf(" (%d seen in a command's responses)", kr.SeenInCommand)
		}
		fmt.Fprintf(w, "%-12s %7d %9d %10d %9d %9d %10d %7d %6d  %s\n", k.name, kr.Clients, kr.LongLived, kr.Keepalives, kr.Sessions, kr.Reconnects, kr.Compressed, kr.Skipped, kr.Failed, lat)
		if kr.LastError != "" {
			fmt.Fprintf(w, "  last error: %s\n", kr.LastError)
		}
	}
	if h := r.Hold; h != nil {
		fmt.Fprintf(w, "hold %v: asleep share min %.2f%%, last %.2f%%; client wakes per long-lived conn per hour %.2f\n",
			h.Duration, 100*h.MinAsleepShare, 100*h.LastAsleepShare, h.WakesPerConnHr)
		fmt.Fprintf(w, "  wakes by cause %v\n  wakes by command %v\n  keepalive wakes %v\n  served asleep %v\n  closed asleep (no wake) %v\n",
			sorted(h.WakesByCause), sorted(h.WakesByCommand), sorted(h.KeepaliveWakes), sorted(h.ServedAsleep), sorted(h.ClosedAsleep))
		if hm := h.Memory; hm != nil {
			fmt.Fprintf(w, "  Pss per long-lived connection over the hold (%d samples): median %.0f B (min %.0f, max %.0f), anon %.0f B, file %.0f B; user indexes mapped: %.0f (%.0f KiB)\n",
				hm.Samples, hm.PssMedian, hm.PssMin, hm.PssMax, hm.AnonMedian, hm.FileMedian, hm.IndexFiles, hm.IndexPssKiB)
		}
	}
	fmt.Fprintf(w, "hibernation refused by reason: %v\n", sorted(r.Refused))
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func sorted(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %g", k, m[k])
	}
	b.WriteString("}")
	return b.String()
}
