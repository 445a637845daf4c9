package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// reproConfig holds the scale of each reproduction, sized for a 2-core
// machine with 20,000 descriptors per process.
type reproConfig struct {
	server       serverOpts
	dir          string // data folders are made below it
	only         map[int]bool
	timeout      time.Duration // one IMAP or LMTP command
	cpuWait      time.Duration // how long a CPU probe waits for its answer
	flood        int           // silent IMAPS connections (1)
	preauthConns int           // connections sending APPEND {n+} (2)
	preauthMiB   int           // literal size each (2)
	envMsgs      int           // messages with a huge To: (4)
	envBytes     int           // To: header size (4)
	searchKeys   int           // repeated BODY keys (5)
	searchBytes  int           // the searched message's size (5)
	guesses      int           // wrong passwords for the user (8)
	madeUp       int           // made-up user names (8)
	guessWait    time.Duration // how long to wait for the right password to work again (8)
	rcpts        int           // LMTP recipients in one transaction (9)
}

// row is one finding's result.
type row struct {
	N       int            `json:"finding"`
	Title   string         `json:"title"`
	Measure string         `json:"measure"`
	Value   string         `json:"value"`
	Detail  string         `json:"detail"`
	Secs    float64        `json:"probe_seconds"`
	Data    map[string]any `json:"data,omitempty"`
	Err     string         `json:"error,omitempty"`
}

// probe is one finding's reproduction.
type probe struct {
	n       int
	title   string
	measure string
	run     func(ctx context.Context, cfg *reproConfig, r *row) error
}

// probes lists the nine findings of the hostile-client review in order.
var probes = []probe{
	{1, "descriptors before login", "server descriptors held by silent IMAPS connections (count)", probeDescriptors},
	{2, "disk before login", "bytes in spool/ during unauthenticated APPEND {n+} (MiB)", probePreauthSpool},
	{3, "LIST pattern CPU", "server CPU for LIST \"\" \"**********q\" after CREATE of a 40-char name (CPU s)", probeList},
	{4, "ENVELOPE memory", "server peak RSS during FETCH 1:* ENVELOPE (MiB)", probeEnvelope},
	{5, "repeated SEARCH keys CPU", "server CPU for SEARCH with repeated BODY keys, incl. after disconnect (CPU s)", probeSearch},
	{6, "full disk, large APPEND", "answer to a 2 MB APPEND on a full file system", probeFullDisk},
	{7, "leftovers after SIGKILL", "files left in spool/ and Maildir tmp/ after restart (count, MiB)", probeLeftovers},
	{8, "login throttle as lockout", "does the right password log in during/after a guessing attack", probeGuessing},
	{9, "duplicate recipients, user names", "copies stored for 1 recipient named N times; user add alice + ALICE", probeSmaller},
}

// runRepro runs the selected probes, each on a fresh server, and returns
// their rows.
func runRepro(ctx context.Context, cfg *reproConfig, logw io.Writer) []row {
	var rows []row
	for _, p := range probes {
		if len(cfg.only) > 0 && !cfg.only[p.n] {
			continue
		}
		r := row{N: p.n, Title: p.title, Measure: p.measure, Data: map[string]any{}}
		fmt.Fprintf(logw, "hostile: finding %d (%s)...\n", p.n, p.title)
		t0 := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err := p.run(pctx, cfg, &r)
		cancel()
		r.Secs = time.Since(t0).Round(100 * time.Millisecond).Seconds()
		if err != nil {
			r.Err = err.Error()
			if r.Value == "" {
				r.Value = "error"
			}
		}
		fmt.Fprintf(logw, "hostile: finding %d: %s (%s) in %.1f s\n", p.n, r.Value, r.Detail, r.Secs)
		rows = append(rows, r)
	}
	return rows
}

// freshServer starts a server on a new data folder named after the probe,
// with the users alice, bob and mallory (passwords user+"-pw").
func freshServer(cfg *reproConfig, name string) (*server, error) {
	data := filepath.Join(cfg.dir, name)
	os.RemoveAll(data)
	s, err := newServer(cfg.server, data, map[string]string{"alice": "alice-pw", "bob": "bob-pw", "mallory": "mallory-pw"})
	if err != nil {
		return nil, err
	}
	return s, s.start()
}

// printTable writes the rows as a markdown table.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| # | finding | measure (unit) | value | detail | probe time |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rows {
		detail := r.Detail
		if r.Err != "" {
			detail = strings.TrimSpace(detail + "; error: " + r.Err)
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %.0f s |\n", r.N, r.Title, r.Measure, cell(r.Value), cell(detail), r.Secs)
	}
}

// cell makes text safe inside a markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// writeJSON writes v to path, indented.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// parseOnly reads "1,3,5" into a set.
func parseOnly(s string) (map[int]bool, error) {
	out := make(map[int]bool)
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > len(probes) {
			return nil, fmt.Errorf("-only: %q is not a finding number 1 to %d", f, len(probes))
		}
		out[n] = true
	}
	return out, nil
}

// mib formats bytes as MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// secs formats a duration as seconds.
func secs(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }
