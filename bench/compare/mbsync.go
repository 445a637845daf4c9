package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
)

// mbsyncResult is one full pull of a mailbox by mbsync: the median of
// mbsyncRuns pulls by wall time, with every run's figures beside it.
type mbsyncResult struct {
	Messages   int     `json:"messages"` // messages in the local Maildir afterwards
	WallSec    float64 `json:"wall_seconds"`
	CPUSec     float64 `json:"server_cpu_seconds"` // utime+stime of the server tree
	ClientCPU  float64 `json:"mbsync_cpu_seconds"`
	LocalBytes int64   `json:"local_bytes"`
	// Runs are all the pulls, in the order they ran (empty in a run's own
	// result).
	Runs []mbsyncResult `json:"runs,omitempty"`
}

// mbsyncRuns is how many times each server is pulled from. mbsync is
// single-threaded and its own work (creating 10,000 local files) sets the
// wall time; on this machine one pull took 0.7 to 3.8 s for the same
// server as the disk's load changed, so one pull says little.
const mbsyncRuns = 3

// runMbsyncMedian pulls mbsyncRuns times, each into a fresh local
// Maildir, and returns the median pull by wall time.
func runMbsyncMedian(ctx context.Context, dir, addr, user, pass string, pid int, timeout time.Duration) (mbsyncResult, error) {
	var runs []mbsyncResult
	for range mbsyncRuns {
		r, err := runMbsync(ctx, dir, addr, user, pass, pid, timeout)
		if err != nil {
			return mbsyncResult{}, err
		}
		runs = append(runs, r)
	}
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b mbsyncResult) int { return cmp.Compare(a.WallSec, b.WallSec) })
	med := sorted[len(sorted)/2]
	med.Runs = runs
	return med, nil
}

// runMbsync pulls the INBOX of user into a fresh local Maildir with one
// `mbsync -a` and measures wall time and the server's CPU time. The
// config lives in dir, the local Maildir under localRoot(dir); both are
// removed first, the Maildir also afterwards.
func runMbsync(ctx context.Context, dir, addr, user, pass string, pid int, timeout time.Duration) (mbsyncResult, error) {
	var res mbsyncResult
	local := filepath.Join(localRoot(dir), "dormouse-compare-mbsync-local")
	for _, d := range []string{dir, local} {
		if err := os.RemoveAll(d); err != nil {
			return res, fmt.Errorf("mbsync: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("mbsync: %w", err)
	}
	if err := os.MkdirAll(local, 0o700); err != nil {
		return res, fmt.Errorf("mbsync: %w", err)
	}
	defer os.RemoveAll(local)
	host, port, _ := strings.Cut(addr, ":")
	// FSync off: the local side's fsyncs would dominate the wall time,
	// and the server is what is measured.
	cfg := fmt.Sprintf(`FSync no

IMAPAccount bench
Host %s
Port %s
User %s
Pass %q
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path %s/
Inbox %s/INBOX

Channel pull
Far :remote:INBOX
Near :local:INBOX
Sync Pull
Create Near
Expunge None
SyncState *
`, host, port, user, pass, local, local)
	cfgPath := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return res, fmt.Errorf("mbsync: %w", err)
	}
	cpu0, err := procmem.CPU(pid)
	if err != nil {
		return res, fmt.Errorf("mbsync: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mbsync", "-q", "-c", cfgPath, "-a")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	res.WallSec = time.Since(start).Seconds()
	if err != nil {
		return res, fmt.Errorf("mbsync: %w: %s", err, lastLines(string(out), 5))
	}
	if cmd.ProcessState != nil {
		res.ClientCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	}
	// Dovecot's imap process exits after LOGOUT; its CPU time reaches the
	// master's cutime/cstime once reaped. Wait until the figure is stable.
	cpu1 := cpu0
	for range 20 {
		time.Sleep(250 * time.Millisecond)
		c, err := procmem.CPU(pid)
		if err != nil {
			return res, fmt.Errorf("mbsync: %w", err)
		}
		if c == cpu1 && c != cpu0 {
			break
		}
		cpu1 = c
	}
	res.CPUSec = (cpu1 - cpu0).Seconds()
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(local, "INBOX", sub))
		if err != nil {
			return res, fmt.Errorf("mbsync: local Maildir: %w", err)
		}
		for _, e := range ents {
			if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
				res.Messages++
				res.LocalBytes += info.Size()
			}
		}
	}
	return res, nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}
