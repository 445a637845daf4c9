package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dormouse/dormouse/bench/internal/stats"
)

// idleReport is the part of bench/idle's JSON this tool reads.
type idleReport struct {
	Ramp struct {
		Open       int     `json:"open"`
		Errors     int     `json:"errors"`
		FirstError string  `json:"first_error"`
		PerSecond  float64 `json:"per_second"`
	} `json:"ramp"`
	Baseline idleSnapshot `json:"baseline"`
	Idle     idleSnapshot `json:"idle"`
	PerConn  struct {
		N        int      `json:"n"`
		PssBytes *float64 `json:"pss_bytes"`
		RssBytes *float64 `json:"rss_bytes"`
		// PssIfReturned subtracts the free heap a Go server holds but has
		// not yet handed back to the kernel; absent for Dovecot.
		PssIfReturned *float64 `json:"pss_if_returned_bytes"`
	} `json:"per_conn"`
	Wake *struct {
		Deliveries int        `json:"deliveries"`
		Failed     int        `json:"failed_deliveries"`
		First      stats.Dist `json:"first_conn_of_user"`
		All        stats.Dist `json:"all_conns_of_user"`
		// SamplesMs holds every latency when bench/idle reports them;
		// without it the CDF is drawn through the quantiles.
		SamplesMs []float64 `json:"samples_ms"`
	} `json:"wake"`
	ClosedByServer int `json:"closed_by_server"`
}

// idleSnapshot is one measurement of the server in bench/idle's JSON.
type idleSnapshot struct {
	Tree *struct {
		Procs  int                  `json:"procs"`
		PssKiB int64                `json:"pss_kib"`
		RssKiB int64                `json:"rss_kib"`
		ByComm map[string]procGroup `json:"by_comm"`
	} `json:"tree"`
	Metrics struct {
		Hibernated *float64 `json:"hibernated"`
		Idling     *float64 `json:"idling"`
	} `json:"metrics"`
}

// idleResult is one idle run: a server configuration at N connections.
type idleResult struct {
	Server     string  `json:"server"`
	Hibernate  bool    `json:"hibernate"`
	N          int     `json:"n"`
	Open       int     `json:"open"`
	Errors     int     `json:"errors"`
	PssPerConn float64 `json:"pss_bytes_per_conn"`
	// PssIfReturned is PssPerConn less the Go runtime's free, not yet
	// returned heap (Dormouse only; 0 when not reported).
	PssIfReturned float64    `json:"pss_if_returned_bytes_per_conn,omitempty"`
	PssTotalKiB   int64      `json:"pss_total_kib"`
	ProcsBefore   int        `json:"procs_before"`
	ProcsAfter    int        `json:"procs_after"`
	ByComm        string     `json:"procs_by_name"` // e.g. "imap 1000, imap-login 2"
	Hibernated    *float64   `json:"hibernated,omitempty"`
	SetupPerSec   float64    `json:"setup_per_second"`
	Wake          stats.Dist `json:"wake"`
	WakeSamples   []float64  `json:"wake_samples_ms,omitempty"`
	WakeFailures  int        `json:"wake_failed_deliveries"`
	JSONFile      string     `json:"json_file"`
}

// idleRun is the bench/idle invocation for one run.
type idleRun struct {
	bin        string
	srv        server
	hibernate  bool
	n, perUser int
	userFmt    string
	password   string
	settle     time.Duration
	deliveries int
	jsonFile   string
	logFile    string
	timeout    time.Duration
}

// runIdle runs bench/idle against the running server and reads its JSON.
func runIdle(ctx context.Context, r idleRun) (idleResult, error) {
	res := idleResult{Server: r.srv.Name(), Hibernate: r.hibernate, N: r.n, JSONFile: r.jsonFile}
	args := []string{
		"-addr", r.srv.Addr(), "-user-fmt", r.userFmt, "-password", r.password,
		"-n", strconv.Itoa(r.n), "-per-user", strconv.Itoa(r.perUser),
		"-server-pid", strconv.Itoa(r.srv.PID()), "-settle", r.settle.String(),
		"-maildir-fmt", r.srv.MaildirFmt(), "-deliveries", strconv.Itoa(r.deliveries),
		"-json", r.jsonFile, "-label", fmt.Sprintf("%s hibernate=%v", r.srv.Name(), r.hibernate),
	}
	if u := r.srv.MetricsURL(); u != "" {
		args = append(args, "-metrics", u)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	logf, err := os.Create(r.logFile)
	if err != nil {
		return res, fmt.Errorf("idle: %w", err)
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("idle %s n=%d: %w (log %s)", r.srv.Name(), r.n, err, r.logFile)
	}
	b, err := os.ReadFile(r.jsonFile)
	if err != nil {
		return res, fmt.Errorf("idle: %w", err)
	}
	var rep idleReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return res, fmt.Errorf("idle: %s: %w", r.jsonFile, err)
	}
	fillIdle(&res, rep)
	return res, nil
}

// fillIdle copies the figures this tool reports out of bench/idle's JSON.
func fillIdle(res *idleResult, rep idleReport) {
	res.Open, res.Errors, res.SetupPerSec = rep.Ramp.Open, rep.Ramp.Errors, rep.Ramp.PerSecond
	if p := rep.PerConn.PssBytes; p != nil {
		res.PssPerConn = *p
	}
	if p := rep.PerConn.PssIfReturned; p != nil {
		res.PssIfReturned = *p
	}
	if t := rep.Baseline.Tree; t != nil {
		res.ProcsBefore = t.Procs
	}
	if t := rep.Idle.Tree; t != nil {
		res.ProcsAfter, res.PssTotalKiB = t.Procs, t.PssKiB
		res.ByComm = byCommString(t.ByComm)
	}
	res.Hibernated = rep.Idle.Metrics.Hibernated
	if w := rep.Wake; w != nil {
		res.Wake, res.WakeFailures = w.All, w.Failed
		res.WakeSamples = w.SamplesMs
	}
}

// procGroup is bench/idle's per-name sum of a process tree.
type procGroup struct {
	Count  int   `json:"count"`
	PssKiB int64 `json:"pss_kib"`
}

// byCommString lists process counts by name, largest first.
func byCommString(m map[string]procGroup) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(m[b].Count, m[a].Count); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, m[k].Count)
	}
	return strings.Join(parts, ", ")
}
