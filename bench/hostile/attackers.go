package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// attackReport is what the attackers' process tells the soak at its end.
type attackReport struct {
	Attacks  map[string]int    `json:"attacks"`
	Undone   map[string]int    `json:"undone"`
	FirstErr map[string]string `json:"first_errors"`
}

// runAttackers runs the hostile clients as a child process of this
// program (`hostile soak ... -attacker-of IMAP,IMAPS,LMTP`) until ctx
// ends, and adds what they did to rec. Real attackers spend their own
// machine's CPU and memory: in the measuring process, building 16 MiB
// literals, reading megabyte answers and collecting their garbage would
// delay the well-behaved clients' goroutines and be counted against the
// server.
func runAttackers(ctx context.Context, cfg *soakConfig, s *server, rec *recorder) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("attackers: %w", err)
	}
	deadline, _ := ctx.Deadline()
	args := append([]string{"soak"}, cfg.args...)
	args = append(args, "-attacker-of", strings.Join([]string{s.imap, s.imaps, s.lmtp}, ","),
		"-duration", time.Until(deadline).Round(time.Millisecond).String())
	var out bytes.Buffer
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("attackers: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-time.After(time.Until(deadline) + cfg.hostileTimeout + time.Minute):
		cmd.Process.Kill()
		err = fmt.Errorf("did not end")
		<-waited
	}
	if err != nil {
		return fmt.Errorf("attackers' process: %w", err)
	}
	var rep attackReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return fmt.Errorf("attackers' report: %w", err)
	}
	rec.mergeAttacks(rep)
	return nil
}

// attackerMain is the attackers' process: the hostile clients against
// cfg.attackerOf for cfg.duration (the soak has set them up), then their
// report as JSON on out.
func attackerMain(ctx context.Context, cfg *soakConfig, out io.Writer) error {
	rec := newRecorder(time.Now())
	host := &hostileEnv{cfg: cfg, s: cfg.attackerOf, rec: rec, users: soakUsers(cfg.users)}
	actx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	host.run(actx)
	_, first, attacks, undone := rec.snapshot()
	return json.NewEncoder(out).Encode(attackReport{Attacks: attacks, Undone: undone, FirstErr: first})
}
