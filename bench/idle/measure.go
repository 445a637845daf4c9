package main

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
	"github.com/dormouse/dormouse/bench/internal/promtext"
)

// Series read from a Go server's metrics (Dormouse: the client_golang Go
// collector and imapserver.Metrics). Missing ones read as NaN and are left
// out of the results.
const (
	seriesHeapInuse  = "go_memstats_heap_inuse_bytes"
	seriesHeapAlloc  = "go_memstats_heap_alloc_bytes"
	seriesSys        = "go_memstats_sys_bytes"
	seriesHeapIdle   = "go_memstats_heap_idle_bytes"
	seriesHeapRel    = "go_memstats_heap_released_bytes"
	seriesGCSys      = "go_memstats_gc_sys_bytes"
	seriesMSpanSys   = "go_memstats_mspan_sys_bytes"
	seriesStackSys   = "go_memstats_stack_sys_bytes"
	seriesOtherSys   = "go_memstats_other_sys_bytes"
	seriesGoroutines = "go_goroutines"
	seriesThreads    = "go_threads"
	seriesGCCount    = "go_gc_duration_seconds_count"
	seriesHibernated = `dormouse_imap_connections{state="hibernated"}`
	seriesIdling     = `dormouse_imap_connections{state="idling"}`
	seriesActive     = `dormouse_imap_connections{state="active"}`
	seriesHibTotal   = "dormouse_imap_hibernations_total"
)

// serverMetrics is what the tool reads from -metrics at one moment.
type serverMetrics struct {
	HeapInuse *float64 `json:"heap_inuse_bytes,omitempty"`
	HeapAlloc *float64 `json:"heap_alloc_bytes,omitempty"`
	Sys       *float64 `json:"sys_bytes,omitempty"`
	HeapIdle  *float64 `json:"heap_idle_bytes,omitempty"`
	HeapRel   *float64 `json:"heap_released_bytes,omitempty"`
	// The runtime's memory outside the heap: GC metadata, span
	// structures, goroutine stacks, the rest (profiling buckets apart).
	GCSys      *float64 `json:"gc_sys_bytes,omitempty"`
	MSpanSys   *float64 `json:"mspan_sys_bytes,omitempty"`
	StackSys   *float64 `json:"stack_sys_bytes,omitempty"`
	OtherSys   *float64 `json:"other_sys_bytes,omitempty"`
	Goroutines *float64 `json:"goroutines,omitempty"`
	Threads    *float64 `json:"threads,omitempty"`
	GCCount    *float64 `json:"gc_count,omitempty"`
	Hibernated *float64 `json:"hibernated,omitempty"`
	Idling     *float64 `json:"idling,omitempty"`
	Active     *float64 `json:"active,omitempty"`
	HibTotal   *float64 `json:"hibernations_total,omitempty"`
}

func opt(s promtext.Samples, series string) *float64 {
	v, ok := s.Get(series)
	if !ok || math.IsNaN(v) {
		return nil
	}
	return &v
}

// val is *p, or NaN for nil.
func val(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// meter reads the server: its process tree and its metrics.
type meter struct {
	pid  int
	url  string
	http *http.Client
	log  *slog.Logger
}

func newMeter(c *config, log *slog.Logger) *meter {
	return &meter{pid: c.ServerPID, url: c.Metrics, http: &http.Client{Timeout: 10 * time.Second}, log: log}
}

// metrics reads -metrics; zero value when not given or unreadable.
func (m *meter) metrics(ctx context.Context) serverMetrics {
	if m.url == "" {
		return serverMetrics{}
	}
	s, err := promtext.Fetch(ctx, m.http, m.url)
	if err != nil {
		m.log.Warn("metrics", "err", err)
		return serverMetrics{}
	}
	return serverMetrics{
		HeapInuse: opt(s, seriesHeapInuse), HeapAlloc: opt(s, seriesHeapAlloc), Sys: opt(s, seriesSys),
		HeapIdle: opt(s, seriesHeapIdle), HeapRel: opt(s, seriesHeapRel),
		GCSys: opt(s, seriesGCSys), MSpanSys: opt(s, seriesMSpanSys), StackSys: opt(s, seriesStackSys), OtherSys: opt(s, seriesOtherSys),
		Goroutines: opt(s, seriesGoroutines), Threads: opt(s, seriesThreads), GCCount: opt(s, seriesGCCount),
		Hibernated: opt(s, seriesHibernated), Idling: opt(s, seriesIdling), Active: opt(s, seriesActive),
		HibTotal: opt(s, seriesHibTotal),
	}
}

// snapshot is one full measurement of the server.
type snapshot struct {
	At      time.Time      `json:"at"`
	Tree    *procmem.Tree  `json:"tree,omitempty"`
	Metrics serverMetrics  `json:"metrics"`
	Kernel  procmem.Kernel `json:"kernel"`
}

func (m *meter) snapshot(ctx context.Context) snapshot {
	s := snapshot{At: time.Now().UTC(), Metrics: m.metrics(ctx), Kernel: procmem.ReadKernel()}
	if m.pid > 0 {
		t, err := procmem.Measure(m.pid)
		if err != nil {
			m.log.Warn("measure server", "err", err)
		} else {
			s.Tree = &t
		}
	}
	return s
}

// cpu returns the server tree's CPU time, or 0 without -server-pid.
func (m *meter) cpu() time.Duration {
	if m.pid <= 0 {
		return 0
	}
	d, err := procmem.CPU(m.pid)
	if err != nil {
		m.log.Warn("server cpu", "err", err)
	}
	return d
}

// perConn is the memory one idle connection costs: (after − before) / n.
type perConn struct {
	N         int      `json:"n"`
	PssBytes  *float64 `json:"pss_bytes,omitempty"`
	RssBytes  *float64 `json:"rss_bytes,omitempty"`
	PssAnon   *float64 `json:"pss_anon_bytes,omitempty"`
	HeapInuse *float64 `json:"go_heap_inuse_bytes,omitempty"`
	// PssReturned is Pss as it would be once the Go runtime returned the
	// free heap pages it still holds (heap_idle − heap_released).
	PssReturned *float64 `json:"pss_if_returned_bytes,omitempty"`
	KernelUsed  *float64 `json:"machine_used_bytes,omitempty"` // MemTotal−MemAvailable, both ends and everything else
	SUnreclaim  *float64 `json:"kernel_sunreclaim_bytes,omitempty"`
	Threads     *float64 `json:"threads,omitempty"`    // server threads per connection
	Goroutines  *float64 `json:"goroutines,omitempty"` // server goroutines per connection
}

func perConnection(before, after snapshot, n int) perConn {
	p := perConn{N: n}
	if n == 0 {
		return p
	}
	div := func(d float64) *float64 { v := d / float64(n); return &v }
	if before.Tree != nil && after.Tree != nil {
		p.PssBytes = div(float64(after.Tree.PssKiB-before.Tree.PssKiB) * 1024)
		p.RssBytes = div(float64(after.Tree.RssKiB-before.Tree.RssKiB) * 1024)
		p.PssAnon = div(float64(after.Tree.PssAnonKiB-before.Tree.PssAnonKiB) * 1024)
		p.Threads = div(float64(after.Tree.Threads - before.Tree.Threads))
	}
	if b, a := before.Metrics.HeapInuse, after.Metrics.HeapInuse; b != nil && a != nil {
		p.HeapInuse = div(*a - *b)
	}
	if p.PssBytes != nil {
		if r0, r1 := retained(before.Metrics), retained(after.Metrics); r0 != nil && r1 != nil {
			p.PssReturned = div(float64(after.Tree.PssKiB-before.Tree.PssKiB)*1024 - (*r1 - *r0))
		}
	}
	if b, a := before.Metrics.Goroutines, after.Metrics.Goroutines; b != nil && a != nil {
		p.Goroutines = div(*a - *b)
	}
	p.KernelUsed = div(float64(after.Kernel.UsedKiB()-before.Kernel.UsedKiB()) * 1024)
	p.SUnreclaim = div(float64(after.Kernel.Meminfo["SUnreclaim"]-before.Kernel.Meminfo["SUnreclaim"]) * 1024)
	return p
}

// retained is heap memory the Go runtime holds but does not use and has
// not returned to the OS yet.
func retained(m serverMetrics) *float64 {
	if m.HeapIdle == nil || m.HeapRel == nil {
		return nil
	}
	v := *m.HeapIdle - *m.HeapRel
	return &v
}

// settle waits c.Settle after lastIdle, logging the server every few
// seconds, then with -metrics and -gc-wait waits for one more completed
// garbage collection. It returns the trace of what it saw.
func (m *meter) settle(ctx context.Context, c *config, lastIdle time.Time) []string {
	var trace []string
	note := func() {
		s := m.snapshot(ctx)
		line := traceLine(time.Since(lastIdle), s)
		trace = append(trace, line)
		m.log.Info("settle", "state", line)
	}
	step := 5 * time.Second
	for until := lastIdle.Add(c.Settle); time.Now().Before(until); {
		if !sleepCtx(ctx, min(step, time.Until(until))) {
			return trace
		}
		note()
	}
	if c.GCWait <= 0 || m.url == "" {
		return trace
	}
	gc0 := m.metrics(ctx).GCCount
	if gc0 == nil {
		return trace
	}
	end := time.Now().Add(c.GCWait)
	for time.Now().Before(end) {
		if !sleepCtx(ctx, time.Second) {
			break
		}
		if g := m.metrics(ctx).GCCount; g != nil && *g > *gc0 {
			// Let the background scavenger return what this GC freed.
			sleepCtx(ctx, 5*time.Second)
			note()
			return trace
		}
	}
	trace = append(trace, "no garbage collection within -gc-wait")
	note()
	return trace
}

func traceLine(since time.Duration, s snapshot) string {
	line := "t+" + since.Round(time.Second).String()
	if s.Tree != nil {
		line += " pss=" + kib(s.Tree.PssKiB) + " rss=" + kib(s.Tree.RssKiB) + " procs=" + itoa(s.Tree.Procs) + " threads=" + itoa(s.Tree.Threads)
	}
	mt := s.Metrics
	if mt.HeapInuse != nil {
		line += " heap_inuse=" + kib(int64(*mt.HeapInuse/1024))
	}
	if r := retained(mt); r != nil {
		line += " heap_retained=" + kib(int64(*r/1024))
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"hibernated", mt.Hibernated}, {"idling", mt.Idling}, {"active", mt.Active}, {"goroutines", mt.Goroutines}, {"gc", mt.GCCount}} {
		if f.v != nil {
			line += " " + f.name + "=" + ftoa(*f.v)
		}
	}
	return line
}

// sleepCtx sleeps d unless ctx ends first; it reports whether it slept.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
