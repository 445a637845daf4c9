package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
)

// mbsyncResult is one full pull of a mailbox by mbsync.
type mbsyncResult struct {
	Messages   int     `json:"messages"` // messages in the local Maildir afterwards
	WallSec    float64 `json:"wall_seconds"`
	CPUSec     float64 `json:"server_cpu_seconds"` // utime+stime of the server tree
	ClientCPU  float64 `json:"mbsync_cpu_seconds"`
	LocalBytes int64   `json:"local_bytes"`
}

// runMbsync pulls the INBOX of user into a fresh local Maildir under dir
// with one `mbsync -a` and measures wall time and the server's CPU time.
func runMbsync(ctx context.Context, dir, addr, user, pass string, pid int, timeout time.Duration) (mbsyncResult, error) {
	var res mbsyncResult
	if err := os.RemoveAll(dir); err != nil {
		return res, fmt.Errorf("mbsync: %w", err)
	}
	local := filepath.Join(dir, "local")
	if err := os.MkdirAll(local, 0o700); err != nil {
		return res, fmt.Errorf("mbsync: %w", err)
	}
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
