package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
)

// results is everything one run found; -json writes it as is.
type results struct {
	Tool     string     `json:"tool"`
	Date     string     `json:"date"`
	Command  []string   `json:"command"`
	Config   config     `json:"config"`
	Ramp     rampResult `json:"ramp"`
	Baseline snapshot   `json:"baseline"`
	Idle     snapshot   `json:"idle"`
	PerConn  perConn    `json:"per_conn"`
	// Halfway is the server after the first half of the connections
	// (-halfway), and SecondHalf what the second half cost per connection:
	// the runtime's structures sized by the ramp's peak are in both
	// measurements, so this is the cost of one more sleeping connection.
	Halfway        *snapshot      `json:"halfway,omitempty"`
	SecondHalf     *perConn       `json:"second_half_per_conn,omitempty"`
	ClientRSS      int64          `json:"client_rss_kib"`
	SettleTrace    []string       `json:"settle_trace"`
	Wake           *wakeResult    `json:"wake,omitempty"`
	Fanout         *fanoutResult  `json:"fanout,omitempty"`
	Cycles         *cyclesResult  `json:"cycles,omitempty"`
	Upgrade        *upgradeResult `json:"upgrade,omitempty"`
	ClosedByServer int            `json:"closed_by_server"`
	UntaggedLines  int64          `json:"untagged_lines_while_idle"`
	Seconds        float64        `json:"seconds"`
}

func (r *results) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// printTable writes the human-readable summary.
func (r *results) printTable(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "\n== bench/idle %s  %s\n", r.Date, c.Label)
	fmt.Fprintf(w, "server %s pid %d, %d connections requested, %d per user, %d users\n", c.Addr, c.ServerPID, c.N, c.PerUser, c.Users)
	fmt.Fprintf(w, "ramp: %d open, %d errors in %.1f s (%.0f/s) %s %s\n", r.Ramp.Open, r.Ramp.Errors, r.Ramp.Seconds, r.Ramp.PerSecond, r.Ramp.FirstError, r.Ramp.Stopped)
	r.printMemory(w)
	i := r.Idle
	if i.Metrics.Hibernated != nil {
		fmt.Fprintf(w, "%-28s %14s %14.0f (idling %.0f, active %.0f)\n", "hibernated connections", "", *i.Metrics.Hibernated, val(i.Metrics.Idling), val(i.Metrics.Active))
	}
	fmt.Fprintf(w, "client RSS %s\n", human(float64(r.ClientRSS)*1024))
	if u := r.Upgrade; u != nil {
		fmt.Fprintf(w, "upgrade: new pid %d; old process exited after %.1f ms, all asleep in the new one after %.1f ms; %d connections closed by the server %s\n",
			u.NewPID, u.HandoverMS, u.AllAsleepMS, u.ClosedByServer, u.Error)
		fmt.Fprintf(w, "  old: Pss %s, Rss %s at start, peak Pss %s, Rss %s; new: peak Pss %s, Rss %s (%d samples)\n",
			kib(u.OldAtStart.PssKiB), kib(u.OldAtStart.RssKiB), kib(u.OldPeak.PssKiB), kib(u.OldPeak.RssKiB),
			kib(u.NewPeak.PssKiB), kib(u.NewPeak.RssKiB), u.Samples)
	}
	if wr := r.Wake; wr != nil {
		fmt.Fprintf(w, "wake latency (%s, %d deliveries, %d failed):\n  first conn of user: %s\n  all conns of user:  %s\n",
			wr.Method, wr.Deliveries, wr.Failed, wr.First, wr.All)
	}
	if f := r.Fanout; f != nil {
		fmt.Fprintf(w, "fan-out (%s) to %d connections of one user:\n", f.Method, f.Conns)
		for k, run := range f.Runs {
			fmt.Fprintf(w, "  delivery %d: %d got it, last after %.3f ms, p50 %.3f ms, timeouts %d (hibernated before: %s)\n",
				k+1, run.Got, run.LastMS, run.Dist.P50, run.Dist.Timeouts, perStr(run.Hibernated, 0))
		}
	}
	if cy := r.Cycles; cy != nil {
		fmt.Fprintf(w, "cycles: %d connections × %d rounds = %d cycles (%d errors %s) in %.1f s\n",
			cy.Conns, cy.Rounds, cy.Cycles, cy.Errors, cy.FirstError, cy.Seconds)
		fmt.Fprintf(w, "  server CPU %.2f s (idle rate %.4f CPU-s/s subtracted): %.1f µs per cycle, %.0f cycles/s per core; hibernations %s; mean wait to re-hibernate %.0f ms\n",
			cy.CPUSeconds, cy.IdleCPUPerSec, cy.CPUPerCycleUS, cy.CyclesPerCore, perStr(cy.Hibernations, 0), cy.RehibWaitMS)
		if a := cy.After; a != nil && a.Tree != nil {
			fmt.Fprintf(w, "  -settle after the last round: Pss %s, Go heap in use %s, heap objects %s\n",
				human(float64(a.Tree.PssKiB)*1024), human(val(a.Metrics.HeapInuse)), human(val(a.Metrics.HeapAlloc)))
		}
	}
	fmt.Fprintf(w, "connections closed by the server: %d; untagged lines while idle: %d; %.1f s\n", r.ClosedByServer, r.UntaggedLines, r.Seconds)
}

// measure reads one figure from a snapshot; nil when it has none.
type measure struct {
	name  string
	bytes bool
	get   func(snapshot) *float64
}

func fromTree(f func(*procmem.Tree) float64) func(snapshot) *float64 {
	return func(s snapshot) *float64 {
		if s.Tree == nil {
			return nil
		}
		v := f(s.Tree)
		return &v
	}
}

func fromMetrics(f func(serverMetrics) *float64) func(snapshot) *float64 {
	return func(s snapshot) *float64 { return f(s.Metrics) }
}

var memoryMeasures = []measure{
	{"Pss", true, fromTree(func(t *procmem.Tree) float64 { return float64(t.PssKiB) * 1024 })},
	{"Rss", true, fromTree(func(t *procmem.Tree) float64 { return float64(t.RssKiB) * 1024 })},
	{"Pss_Anon", true, fromTree(func(t *procmem.Tree) float64 { return float64(t.PssAnonKiB) * 1024 })},
	{"Pss if free heap returned", true, func(s snapshot) *float64 {
		r := retained(s.Metrics)
		if s.Tree == nil || r == nil {
			return nil
		}
		v := float64(s.Tree.PssKiB)*1024 - *r
		return &v
	}},
	{"processes", false, fromTree(func(t *procmem.Tree) float64 { return float64(t.Procs) })},
	{"threads", false, fromTree(func(t *procmem.Tree) float64 { return float64(t.Threads) })},
	{"Go heap in use", true, fromMetrics(func(m serverMetrics) *float64 { return m.HeapInuse })},
	{"  heap objects", true, fromMetrics(func(m serverMetrics) *float64 { return m.HeapAlloc })},
	{"  GC metadata", true, fromMetrics(func(m serverMetrics) *float64 { return m.GCSys })},
	{"  span structures", true, fromMetrics(func(m serverMetrics) *float64 { return m.MSpanSys })},
	{"  stacks", true, fromMetrics(func(m serverMetrics) *float64 { return m.StackSys })},
	{"  other runtime", true, fromMetrics(func(m serverMetrics) *float64 { return m.OtherSys })},
	{"goroutines", false, fromMetrics(func(m serverMetrics) *float64 { return m.Goroutines })},
}

// printMemory writes one row per figure: baseline, (halfway,) idle, the
// growth per connection, and with -halfway the second half's growth per
// connection.
func (r *results) printMemory(w io.Writer) {
	cols := []snapshot{r.Baseline}
	head := []string{"baseline"}
	if r.Halfway != nil {
		cols = append(cols, *r.Halfway)
		head = append(head, "halfway")
	}
	cols = append(cols, r.Idle)
	head = append(head, "idle", "per conn")
	if r.SecondHalf != nil {
		head = append(head, "2nd half/conn")
	}
	fmt.Fprintf(w, "%-28s", "")
	for _, h := range head {
		fmt.Fprintf(w, " %14s", h)
	}
	fmt.Fprintln(w)
	per := func(m measure, from, to *float64, n int) string {
		if from == nil || to == nil || n == 0 {
			return "-"
		}
		if !m.bytes {
			return strconv.FormatFloat((*to-*from)/float64(n), 'f', 4, 64)
		}
		return fmt.Sprintf("%.0f B", (*to-*from)/float64(n))
	}
	for _, m := range memoryMeasures {
		vals := make([]*float64, len(cols))
		for k, s := range cols {
			vals[k] = m.get(s)
		}
		if vals[0] == nil || vals[len(vals)-1] == nil {
			continue
		}
		fmt.Fprintf(w, "%-28s", m.name)
		for _, v := range vals {
			cell := "-"
			if v != nil {
				cell = strconv.FormatFloat(*v, 'f', 0, 64)
				if m.bytes {
					cell = human(*v)
				}
			}
			fmt.Fprintf(w, " %14s", cell)
		}
		last := vals[len(vals)-1]
		fmt.Fprintf(w, " %14s", per(m, vals[0], last, r.Ramp.Open))
		if r.SecondHalf != nil {
			fmt.Fprintf(w, " %14s", per(m, vals[1], last, r.SecondHalf.N))
		}
		fmt.Fprintln(w)
	}
	b := r.Baseline
	row(w, "machine used (both ends)", float64(b.Kernel.UsedKiB())*1024, float64(r.Idle.Kernel.UsedKiB())*1024, r.PerConn.KernelUsed)
	row(w, "kernel SUnreclaim", float64(b.Kernel.Meminfo["SUnreclaim"])*1024, float64(r.Idle.Kernel.Meminfo["SUnreclaim"])*1024, r.PerConn.SUnreclaim)
}

func row(w io.Writer, name string, before, after float64, per *float64) {
	p := ""
	if per != nil {
		p = fmt.Sprintf("%.0f B", *per)
	}
	fmt.Fprintf(w, "%-28s %14s %14s %14s\n", name, human(before), human(after), p)
}

func perStr(p *float64, prec int) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', prec, 64)
}

// human formats bytes in KiB/MiB.
func human(b float64) string {
	switch {
	case math.Abs(b) >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case math.Abs(b) >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	default:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
}

func kib(v int64) string     { return strconv.FormatInt(v, 10) + "KiB" }
func itoa(v int) string      { return strconv.Itoa(v) }
func ftoa(v float64) string  { return strconv.FormatFloat(v, 'f', -1, 64) }
func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }
