package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// row is one line of the comparison table.
type row struct {
	Name        string  `json:"name"`
	Unit        string  `json:"unit"`
	Dovecot     float64 `json:"dovecot"`
	Dormouse    float64 `json:"dormouse"`
	LowerBetter bool    `json:"lower_is_better"`
	// Extra text after each value, e.g. a process count.
	DovecotNote, DormouseNote string
	OK                        bool `json:"ok"` // both figures exist
}

// advantage is how many times better Dormouse is (>1: ahead, <1: behind).
func (r row) advantage() float64 {
	if !r.OK {
		return math.NaN()
	}
	if r.LowerBetter {
		return r.Dovecot / r.Dormouse
	}
	return r.Dormouse / r.Dovecot
}

// hibName names a hibernation setting in the table.
func hibName(on bool) string {
	if on {
		return "hibernation on (" + hibernateAfter + ")"
	}
	return "hibernation off"
}

// rows builds the table from the results.
func rows(r *results) []row {
	var out []row
	for _, hib := range []bool{false, true} {
		for _, n := range r.Plan.IdleNs {
			a, okA := r.idle("dovecot", hib, n)
			b, okB := r.idle("dormouse", hib, n)
			out = append(out, row{
				Name: fmt.Sprintf("Idle memory per connection, N=%s, %s", thousands(n), hibName(hib)), Unit: "KiB",
				Dovecot: a.PssPerConn / 1024, Dormouse: b.PssPerConn / 1024, LowerBetter: true, OK: okA && okB,
			}, row{
				Name: fmt.Sprintf("Σ Pss of all server processes (process count), N=%s, %s", thousands(n), hibName(hib)), Unit: "MiB",
				Dovecot: float64(a.PssTotalKiB) / 1024, Dormouse: float64(b.PssTotalKiB) / 1024, LowerBetter: true, OK: okA && okB,
				DovecotNote: fmt.Sprintf(" (%d procs)", a.ProcsAfter), DormouseNote: fmt.Sprintf(" (%d procs)", b.ProcsAfter),
			})
		}
	}
	if len(r.Plan.IdleNs) > 0 {
		n := slices.Max(r.Plan.IdleNs)
		for _, hib := range []bool{false, true} {
			a, okA := r.idle("dovecot", hib, n)
			b, okB := r.idle("dormouse", hib, n)
			ok := okA && okB && a.Wake.N > 0 && b.Wake.N > 0
			out = append(out, row{
				Name: fmt.Sprintf("Wake latency p50, delivery → EXISTS, N=%s, %s", thousands(n), hibName(hib)), Unit: "ms",
				Dovecot: a.Wake.P50, Dormouse: b.Wake.P50, LowerBetter: true, OK: ok,
			}, row{
				Name: fmt.Sprintf("Wake latency p99, delivery → EXISTS, N=%s, %s", thousands(n), hibName(hib)), Unit: "ms",
				Dovecot: a.Wake.P99, Dormouse: b.Wake.P99, LowerBetter: true, OK: ok,
			})
		}
	}
	a, okA := r.Active["dovecot"]
	b, okB := r.Active["dormouse"]
	c := r.Plan.Clients
	out = append(out,
		row{Name: fmt.Sprintf("Active workload, %d clients: commands per second", c), Unit: "cmd/s",
			Dovecot: a.PerSecond, Dormouse: b.PerSecond, OK: okA && okB},
		row{Name: fmt.Sprintf("Active workload, %d clients: p50 command latency", c), Unit: "ms",
			Dovecot: a.Latency.P50, Dormouse: b.Latency.P50, LowerBetter: true, OK: okA && okB},
		row{Name: fmt.Sprintf("Active workload, %d clients: p99 command latency", c), Unit: "ms",
			Dovecot: a.Latency.P99, Dormouse: b.Latency.P99, LowerBetter: true, OK: okA && okB},
		row{Name: fmt.Sprintf("Active workload, %d clients: server CPU per command", c), Unit: "ms",
			Dovecot: a.CPUMsPerCmd, Dormouse: b.CPUMsPerCmd, LowerBetter: true, OK: okA && okB},
	)
	ma, okA := r.Mbsync["dovecot"]
	mb, okB := r.Mbsync["dormouse"]
	m := thousands(r.Plan.SyncMsgs)
	out = append(out,
		row{Name: fmt.Sprintf("mbsync full pull of %s messages: wall time (median of %d)", m, mbsyncRuns), Unit: "s",
			Dovecot: ma.WallSec, Dormouse: mb.WallSec, LowerBetter: true, OK: okA && okB},
		row{Name: fmt.Sprintf("mbsync full pull of %s messages: server CPU time (same pull)", m), Unit: "s",
			Dovecot: ma.CPUSec, Dormouse: mb.CPUSec, LowerBetter: true, OK: okA && okB},
	)
	if r.Plan.SortMsgs > 0 {
		n := thousands(r.Plan.SortMsgs)
		for _, sc := range sortCommands {
			a, okA := r.Sort["dovecot"][sc.name]
			b, okB := r.Sort["dormouse"][sc.name]
			out = append(out, timedRows(fmt.Sprintf("%s of %s messages", sc.name, n), "headers not cached yet", a, b, okA && okB)...)
		}
	}
	if r.Search != nil {
		for _, mb := range searchMailboxes(r.Plan, r.Plan.fixture()) {
			n := thousands(mb.msgs)
			for _, sc := range searchCommands {
				a, okA := r.Search["dovecot"][mb.user][sc.name]
				b, okB := r.Search["dormouse"][mb.user][sc.name]
				out = append(out, timedRows(fmt.Sprintf("%s over %s messages", sc.name, n), "Dormouse: the first search of a mailbox builds its index", a, b, okA && okB)...)
			}
		}
	}
	for _, n := range r.Plan.LargeMsgs {
		a, okA := r.Large["dovecot"][n]
		b, okB := r.Large["dormouse"][n]
		out = append(out, largeRows(n, a, b, okA && okB)...)
	}
	return out
}

// largeRows are the rows of the large part for the n-message mailbox.
func largeRows(n int, a, b largeResult, ok bool) []row {
	m := thousands(n)
	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	return []row{
		{Name: fmt.Sprintf("SELECT of %s messages: first (both servers index the folder)", m), Unit: "ms",
			Dovecot: a.FirstSelectMs, Dormouse: b.FirstSelectMs, LowerBetter: true, OK: ok},
		{Name: fmt.Sprintf("SELECT of %s messages: median of %d, new connection each", m, largeRepeats), Unit: "ms",
			Dovecot: a.SelectMs, Dormouse: b.SelectMs, LowerBetter: true, OK: ok},
		{Name: fmt.Sprintf("FETCH 1:* (UID FLAGS) of %s messages: median of %d", m, largeRepeats), Unit: "ms",
			Dovecot: a.FetchFlagsMs, Dormouse: b.FetchFlagsMs, LowerBetter: true, OK: ok},
		{Name: fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE) after 100 changes, %s messages", m), Unit: "ms",
			Dovecot: a.ChangedMs, Dormouse: b.ChangedMs, LowerBetter: true, OK: ok},
		{Name: fmt.Sprintf("EXPUNGE of %s of %s messages, %d sessions selected", thousands(a.Expunged), m, largeSessions), Unit: "ms",
			Dovecot: a.ExpungeMs, Dormouse: b.ExpungeMs, LowerBetter: true, OK: ok},
		{Name: fmt.Sprintf("SELECT (QRESYNC) after the 100 changes and the EXPUNGE, %s messages, new connection", m), Unit: "ms",
			Dovecot: a.QResyncMs, Dormouse: b.QResyncMs, LowerBetter: true, OK: ok},
		{Name: fmt.Sprintf("Server memory (Σ Pss), %s messages, after the first SELECT (index built)", m), Unit: "MiB",
			Dovecot: mib(a.PssFirstKiB), Dormouse: mib(b.PssFirstKiB), LowerBetter: true, OK: ok},
		{Name: fmt.Sprintf("Server memory (Σ Pss), %s messages, restarted, nothing selected", m), Unit: "MiB",
			Dovecot: mib(a.PssIdleKiB), Dormouse: mib(b.PssIdleKiB), LowerBetter: true, OK: ok},
		{Name: fmt.Sprintf("Server memory (Σ Pss), %s messages, 1 session selected and fetched", m), Unit: "MiB",
			Dovecot: mib(a.PssOneKiB), Dormouse: mib(b.PssOneKiB), LowerBetter: true, OK: ok},
		{Name: fmt.Sprintf("Server memory (Σ Pss), %s messages, %d sessions selected and fetched", m, largeSessions), Unit: "MiB",
			Dovecot: mib(a.PssManyKiB), Dormouse: mib(b.PssManyKiB), LowerBetter: true, OK: ok,
			DovecotNote: fmt.Sprintf(" (%d procs)", a.Procs), DormouseNote: fmt.Sprintf(" (%d proc)", b.Procs)},
		{Name: fmt.Sprintf("Server memory (Σ Pss_Anon), %s messages, %d sessions selected and fetched", m, largeSessions), Unit: "MiB",
			Dovecot: mib(a.PssAnonManyKiB), Dormouse: mib(b.PssAnonManyKiB), LowerBetter: true, OK: ok},
	}
}

// thousands formats n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// fmtVal formats a figure with about three significant digits.
func fmtVal(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "–"
	case a >= 100:
		return thousands(int(math.Round(v)))
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// writeTable writes the comparison table in Markdown.
func writeTable(w io.Writer, rs []row) {
	fmt.Fprintln(w, "| figure | unit | Dovecot | Dormouse | Dormouse ahead by | |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|")
	for _, r := range rs {
		dov, dor, adv, verdict := "–", "–", "–", "not measured"
		if r.OK {
			dov, dor = fmtVal(r.Dovecot)+r.DovecotNote, fmtVal(r.Dormouse)+r.DormouseNote
			a := r.advantage()
			adv = fmt.Sprintf("%.2f×", a)
			switch {
			case a > 1:
				verdict = "ahead"
			case a < 1:
				verdict = "**behind**"
			default:
				verdict = "even"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.Name, r.Unit, dov, dor, adv, verdict)
	}
}

// writeActiveDetail writes per-command latencies of the active workload.
func writeActiveDetail(w io.Writer, r *results) {
	a, okA := r.Active["dovecot"]
	b, okB := r.Active["dormouse"]
	if !okA || !okB {
		return
	}
	var names []string
	for k := range a.ByCommand {
		names = append(names, k)
	}
	slices.Sort(names)
	fmt.Fprintln(w, "| command | Dovecot n | Dovecot p50 ms | Dovecot p99 ms | Dormouse n | Dormouse p50 ms | Dormouse p99 ms |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, k := range names {
		x, y := a.ByCommand[k], b.ByCommand[k]
		fmt.Fprintf(w, "| %s | %d | %s | %s | %d | %s | %s |\n", k, x.N, fmtVal(x.P50), fmtVal(x.P99), y.N, fmtVal(y.P50), fmtVal(y.P99))
	}
	fmt.Fprintf(w, "\nErrors: Dovecot %d, Dormouse %d. Server CPU during the run: Dovecot %.1f s, Dormouse %.1f s.\n",
		a.Errors, b.Errors, a.CPUSeconds, b.CPUSeconds)
}

// writeSortDetail writes each sort command's reply size on both servers
// and the ESEARCH answers, which must agree for the times to compare.
func writeSortDetail(w io.Writer, r *results) {
	fmt.Fprintln(w, "| command | Dovecot reply bytes | Dormouse reply bytes | ESEARCH answer (Dovecot) | same from Dormouse |")
	fmt.Fprintln(w, "|---|---:|---:|---|---|")
	for _, sc := range sortCommands {
		a, b := r.Sort["dovecot"][sc.name], r.Sort["dormouse"][sc.name]
		same := "–"
		if a.Answer != "" || b.Answer != "" {
			same = "yes"
			if a.Answer != b.Answer {
				same = "**no**: " + b.Answer
			}
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s |\n", sc.cmd, thousands(a.ReplyBytes), thousands(b.ReplyBytes), a.Answer, same)
	}
}

// writeIdleDetail writes every idle run: processes by name, setup rate.
func writeIdleDetail(w io.Writer, r *results) {
	fmt.Fprintln(w, "| server | hibernation | N open | Pss/conn KiB | if free Go heap returned | Σ Pss MiB | processes (by name) | hibernated | setup/s | wake p50 / p99 ms (samples) |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|---:|---:|---|")
	for _, x := range r.Idle {
		hib, ret := "–", "–"
		if x.Hibernated != nil {
			hib = fmt.Sprint(int(*x.Hibernated))
		}
		if x.PssIfReturned != 0 {
			ret = fmtVal(x.PssIfReturned / 1024)
		}
		wake := "–"
		if x.Wake.N > 0 {
			wake = fmt.Sprintf("%s / %s (%d)", fmtVal(x.Wake.P50), fmtVal(x.Wake.P99), x.Wake.N)
		}
		fmt.Fprintf(w, "| %s | %v | %d | %s | %s | %s | %d (%s) | %s | %.0f | %s |\n",
			x.Server, x.Hibernate, x.Open, fmtVal(x.PssPerConn/1024), ret, fmtVal(float64(x.PssTotalKiB)/1024),
			x.ProcsAfter, x.ByComm, hib, x.SetupPerSec, wake)
	}
}

// writeReport writes OUT/compare-DATE[-quick].{md,json} and the plots,
// and the Markdown to stdout too.
func writeReport(r *results, out string, stdout io.Writer) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	stem := "compare-" + r.Started.Format("2006-01-02")
	if r.Plan.Mode != "full" {
		stem += "-" + r.Plan.Mode
	}
	plots := map[string]plot{
		stem + "-memory.svg":     memoryPlot(r),
		stem + "-wake-cdf.svg":   wakePlot(r),
		stem + "-active-cdf.svg": activePlot(r),
	}
	var names []string
	for name, p := range plots {
		f, err := os.Create(filepath.Join(out, name))
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		err = p.writeSVG(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("report: %s: %w", name, err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var md strings.Builder
	writeMarkdown(&md, r, names)
	if err := os.WriteFile(filepath.Join(out, stem+".md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	type jsonOut struct {
		*results
		Table []row `json:"table"`
	}
	b, err := json.MarshalIndent(jsonOut{r, rows(r)}, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, stem+".json"), b, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err = io.WriteString(stdout, md.String())
	return err
}

// writeMarkdown is the report: when, what, the table and the details.
func writeMarkdown(w io.Writer, r *results, plotFiles []string) {
	v, m := r.Versions, r.Machine
	fmt.Fprintf(w, "# Dormouse vs Dovecot, %s run of %s\n\n", r.Plan.Mode, r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "* Run: %s – %s UTC (%s), all figures below from this one run\n",
		r.Started.Format("15:04:05"), r.Finished.Format("15:04:05"), r.Finished.Sub(r.Started).Round(1e9))
	fmt.Fprintf(w, "* Dormouse %s (%s); Dovecot %s; mbsync %s\n", v.Dormouse, v.Go, v.Dovecot, v.Mbsync)
	fmt.Fprintf(w, "* Machine: %d CPUs (%s), %d GiB RAM, Linux %s; client and server on the same machine, over 127.0.0.1\n", m.CPUs, m.CPUModel, m.MemGiB, m.Kernel)
	fmt.Fprintf(w, "* Command: `%s`\n\n", r.Command)
	writeTable(w, rows(r))
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\nFailed parts: %s\n", strings.Join(r.Errors, "; "))
	}
	fmt.Fprintln(w, "\n## Plots")
	fmt.Fprintln(w)
	for _, f := range plotFiles {
		fmt.Fprintf(w, "![%s](%s)\n", strings.TrimSuffix(f, ".svg"), f)
	}
	fmt.Fprintln(w, "\n## Idle runs")
	fmt.Fprintln(w)
	writeIdleDetail(w, r)
	fmt.Fprintln(w, "\n## Active workload by command")
	fmt.Fprintln(w)
	writeActiveDetail(w, r)
	if len(r.Sort) > 0 {
		fmt.Fprintln(w, "\n## SORT, THREAD and ESEARCH replies")
		fmt.Fprintln(w)
		writeSortDetail(w, r)
	}
	if len(r.Mbsync) > 0 {
		fmt.Fprintln(w, "\n## mbsync")
		fmt.Fprintln(w)
		for _, s := range []string{"dovecot", "dormouse"} {
			if x, ok := r.Mbsync[s]; ok {
				fmt.Fprintf(w, "* %s: %d messages (%s bytes) pulled in %.2f s; server CPU %.2f s, mbsync CPU %.2f s",
					s, x.Messages, thousands(int(x.LocalBytes)), x.WallSec, x.CPUSec, x.ClientCPU)
				if len(x.Runs) > 0 {
					fmt.Fprintf(w, " (the median of %d pulls by wall time; each pull's wall / server CPU / mbsync CPU, in order:", len(x.Runs))
					for i, run := range x.Runs {
						if i > 0 {
							fmt.Fprint(w, ",")
						}
						fmt.Fprintf(w, " %.2f / %.2f / %.2f s", run.WallSec, run.CPUSec, run.ClientCPU)
					}
					fmt.Fprint(w, ")")
				}
				fmt.Fprintln(w)
			}
		}
	}
}

// timedRows are the three rows of a command timed on a fresh connection
// each (the sort and search parts): its first run (first says why that
// one differs), the median of the runs after, and their server CPU.
func timedRows(what, first string, a, b sortResult, ok bool) []row {
	return []row{
		{Name: fmt.Sprintf("%s: first run (%s)", what, first), Unit: "ms",
			Dovecot: a.FirstMs, Dormouse: b.FirstMs, LowerBetter: true, OK: ok},
		{Name: fmt.Sprintf("%s: median of the %d runs after, new connection each", what, sortRepeats), Unit: "ms",
			Dovecot: a.MedianMs, Dormouse: b.MedianMs, LowerBetter: true, OK: ok},
		{Name: fmt.Sprintf("%s: server CPU, median of the runs after", what), Unit: "ms",
			Dovecot: a.CPUMs, Dormouse: b.CPUMs, LowerBetter: true, OK: ok},
	}
}
