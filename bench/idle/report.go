package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"
)

// results is everything one run found; -json writes it as is.
type results struct {
	Tool           string        `json:"tool"`
	Date           string        `json:"date"`
	Command        []string      `json:"command"`
	Config         config        `json:"config"`
	Ramp           rampResult    `json:"ramp"`
	Baseline       snapshot      `json:"baseline"`
	Idle           snapshot      `json:"idle"`
	PerConn        perConn       `json:"per_conn"`
	ClientRSS      int64         `json:"client_rss_kib"`
	SettleTrace    []string      `json:"settle_trace"`
	Wake           *wakeResult   `json:"wake,omitempty"`
	Fanout         *fanoutResult `json:"fanout,omitempty"`
	Cycles         *cyclesResult `json:"cycles,omitempty"`
	ClosedByServer int           `json:"closed_by_server"`
	UntaggedLines  int64         `json:"untagged_lines_while_idle"`
	Seconds        float64       `json:"seconds"`
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
	b, i := r.Baseline, r.Idle
	fmt.Fprintf(w, "%-28s %14s %14s %14s\n", "", "baseline", "idle", "per conn")
	if b.Tree != nil && i.Tree != nil {
		row(w, "Pss", float64(b.Tree.PssKiB)*1024, float64(i.Tree.PssKiB)*1024, r.PerConn.PssBytes)
		row(w, "Rss", float64(b.Tree.RssKiB)*1024, float64(i.Tree.RssKiB)*1024, r.PerConn.RssBytes)
		row(w, "Pss_Anon", float64(b.Tree.PssAnonKiB)*1024, float64(i.Tree.PssAnonKiB)*1024, r.PerConn.PssAnon)
		if r.PerConn.PssReturned != nil {
			fmt.Fprintf(w, "%-28s %14s %14s %14s\n", "Pss if free heap returned", "", "", perStr(r.PerConn.PssReturned, 0)+" B")
		}
		fmt.Fprintf(w, "%-28s %14d %14d %14s\n", "processes", b.Tree.Procs, i.Tree.Procs, "")
		fmt.Fprintf(w, "%-28s %14d %14d %14s\n", "threads", b.Tree.Threads, i.Tree.Threads, perStr(r.PerConn.Threads, 4))
	}
	if b.Metrics.HeapInuse != nil && i.Metrics.HeapInuse != nil {
		row(w, "Go heap in use", *b.Metrics.HeapInuse, *i.Metrics.HeapInuse, r.PerConn.HeapInuse)
	}
	if b.Metrics.Goroutines != nil && i.Metrics.Goroutines != nil {
		fmt.Fprintf(w, "%-28s %14.0f %14.0f %14s\n", "goroutines", *b.Metrics.Goroutines, *i.Metrics.Goroutines, perStr(r.PerConn.Goroutines, 4))
	}
	if i.Metrics.Hibernated != nil {
		fmt.Fprintf(w, "%-28s %14s %14.0f (idling %.0f, active %.0f)\n", "hibernated connections", "", *i.Metrics.Hibernated, val(i.Metrics.Idling), val(i.Metrics.Active))
	}
	row(w, "machine used (both ends)", float64(b.Kernel.UsedKiB())*1024, float64(i.Kernel.UsedKiB())*1024, r.PerConn.KernelUsed)
	row(w, "kernel SUnreclaim", float64(b.Kernel.Meminfo["SUnreclaim"])*1024, float64(i.Kernel.Meminfo["SUnreclaim"])*1024, r.PerConn.SUnreclaim)
	fmt.Fprintf(w, "client RSS %s\n", human(float64(r.ClientRSS)*1024))
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
	}
	fmt.Fprintf(w, "connections closed by the server: %d; untagged lines while idle: %d; %.1f s\n", r.ClosedByServer, r.UntaggedLines, r.Seconds)
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
