package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
)

// upgradeResult is the -upgrade mode's result: a new server process takes
// over the running one's listeners and connections (dormouse serve
// --takeover), measured from its start to the old process's exit.
type upgradeResult struct {
	Command []string `json:"command"`
	NewPID  int      `json:"new_pid"`
	// HandoverMS is from the new process's start to the old one's exit;
	// AllAsleepMS to the new one's hibernated gauge showing every IDLE
	// connection the old one held (asleep or awake).
	HandoverMS  float64 `json:"handover_ms"`
	AllAsleepMS float64 `json:"all_asleep_ms"`
	// The processes' memory, sampled every upgradeSample while the old
	// one lived: at the start, and the highest seen.
	OldAtStart procmem.Tree `json:"old_at_start"`
	OldPeak    memPeak      `json:"old_peak"`
	NewPeak    memPeak      `json:"new_peak"`
	NewAfter   *snapshot    `json:"new_after,omitempty"` // when all are asleep in the new one
	Samples    int          `json:"samples"`
	// ClosedByServer counts the connections the handover closed (the
	// reader saw the end of the stream): none, when it works.
	ClosedByServer int    `json:"closed_by_server"`
	Error          string `json:"error,omitempty"`
}

// memPeak is the highest Pss and Rss of one process seen in the samples.
type memPeak struct {
	PssKiB int64 `json:"pss_kib"`
	RssKiB int64 `json:"rss_kib"`
}

func (p *memPeak) note(t procmem.Tree) {
	p.PssKiB = max(p.PssKiB, t.PssKiB)
	p.RssKiB = max(p.RssKiB, t.RssKiB)
}

// upgradeSample is how often both processes are measured during the
// handover.
const upgradeSample = 20 * time.Millisecond

// upgrade starts c.Upgrade (the new server) beside the measured one,
// samples both processes' memory until the old one exits, then waits for
// the new one's hibernated gauge to reach what the old one's showed, and
// from then on measures the new process (m.pid). The new process is
// stopped (SIGTERM) by the returned stop func.
func upgrade(ctx context.Context, c *config, m *meter, conns []*imapConn, log *slog.Logger) (upgradeResult, func()) {
	r := upgradeResult{Command: strings.Fields(c.Upgrade)}
	nop := func() {}
	if m.pid <= 0 || len(r.Command) == 0 {
		r.Error = "-upgrade needs -server-pid and a command"
		return r, nop
	}
	old := m.pid
	// Every IDLE moves: the sleepers, and the awake ones, which the old
	// process hibernates at once to hand them over.
	mt := m.metrics(ctx)
	target := val(mt.Hibernated) + val(mt.Idling)
	if t, err := procmem.Measure(old); err == nil {
		r.OldAtStart = t
		r.OldPeak.note(t)
	}
	cmd := exec.Command(r.Command[0], r.Command[1:]...)
	var logf *os.File
	if c.UpgradeLog != "" {
		f, err := os.Create(c.UpgradeLog)
		if err != nil {
			r.Error = err.Error()
			return r, nop
		}
		logf = f
		cmd.Stderr = f
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.Error = fmt.Sprintf("start: %v", err)
		return r, nop
	}
	r.NewPID = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if logf != nil {
			logf.Close()
		}
	}
	log.Info("upgrade: new process started", "pid", r.NewPID, "old", old)

	deadline := start.Add(2 * time.Minute)
	for alive(old) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.Error = "the old process did not exit within 2 minutes"
			return r, stop
		}
		if t, err := procmem.Measure(old); err == nil {
			r.OldPeak.note(t)
		}
		if t, err := procmem.Measure(r.NewPID); err == nil {
			r.NewPeak.note(t)
		}
		r.Samples++
		time.Sleep(upgradeSample)
	}
	r.HandoverMS = msSince(start)
	m.pid = r.NewPID
	for {
		if h := m.metrics(ctx).Hibernated; h != nil && *h >= target {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.Error = "the new process did not show every connection asleep within 2 minutes"
			return r, stop
		}
		if t, err := procmem.Measure(r.NewPID); err == nil {
			r.NewPeak.note(t)
		}
		time.Sleep(upgradeSample)
	}
	r.AllAsleepMS = msSince(start)
	after := m.snapshot(ctx)
	r.NewAfter = &after
	if after.Tree != nil {
		r.NewPeak.note(*after.Tree)
	}
	for _, ic := range conns {
		if ic != nil && ic.closed.Load() {
			r.ClosedByServer++
		}
	}
	log.Info("upgrade: done", "handover_ms", r.HandoverMS, "all_asleep_ms", r.AllAsleepMS, "closed_by_server", r.ClosedByServer)
	return r, stop
}

// alive reports whether pid is a running process (not gone, not a zombie
// waiting for its parent).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
