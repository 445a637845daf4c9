// Command idle measures what idle IMAP connections cost a server and how
// fast they hear of new mail. It works against any IMAP server that speaks
// plain-text LOGIN; Dormouse's metrics and hibernation gauges are used when
// -metrics is given.
//
// It opens -n connections (greeting, LOGIN, SELECT INBOX, IDLE up to
// "+ idling"), -per-user to a user, -concurrency at a time, measures the
// server's process tree (-server-pid: Pss, Rss, Pss_Anon, threads) and Go
// heap before connecting and after -settle, and reports the difference per
// connection. Then, by flag:
//
//	-deliveries N  wake latency: N deliveries one at a time, by rename into
//	               new/ (-maildir-fmt) or LMTP (-lmtp), time until EXISTS
//	-fanout        every connection on one user; time until the last has it
//	-cycles N      server CPU per DONE/NOOP/IDLE cycle (+ re-hibernation when
//	               -cycle-command wakes the session fully), and
//	               the server's memory -settle after the last round
//
// -upgrade CMD first starts CMD, a `dormouse serve --takeover`, times the
// handover and samples both processes' memory; the modes then run against
// the new process, on the same connections.
//
// With -quiet the connections stop after SELECT INBOX and send nothing:
// quiet sessions, not IDLE ones. With -notify they set NOTIFY after SELECT
// (interimap's NOTIFY SET): with -quiet, NOTIFY sessions waiting between
// commands, as interimap --notify does; without, NOTIFY sessions in IDLE.
// -notify-fetch ATTRS has the SELECTED group's MessageNew ask for fetch
// attributes (RFC 5465 5.2), as bench/fleet's NOTIFY client does.
//
// Every connection is closed at the end. See README.md for the figures and
// run.sh for how they were made.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	c, err := parseFlags(newFlagSet(), os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(2)
	}
	r, err := run(ctx, &c, os.Args, log, os.Stdout)
	// Let the server see the disconnects before a script stops it.
	time.Sleep(time.Second)
	if r != nil && c.JSON != "" {
		if jerr := r.writeJSON(c.JSON); jerr != nil {
			log.Error("json", "err", jerr)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

// run does one measurement run and prints its table to out.
func run(ctx context.Context, c *config, args []string, log *slog.Logger, out io.Writer) (*results, error) {
	start := time.Now()
	r := &results{Tool: "bench/idle", Date: utc(start), Command: args, Config: *c}
	m := newMeter(c, log)
	var lines atomic.Int64

	conns := make([]*imapConn, c.N)
	if c.Prewarm {
		r.Ramp = openAll(ctx, c, conns, 0, c.N, false, &lines, log)
		log.Info("prewarm done", "users", r.Ramp.Open, "errors", r.Ramp.Errors, "first_error", r.Ramp.FirstError)
		if r.Ramp.Errors > 0 {
			return r, fmt.Errorf("prewarm: %d errors, first: %s", r.Ramp.Errors, r.Ramp.FirstError)
		}
		return r, nil
	}

	r.Baseline = m.snapshot(ctx)
	log.Info("baseline", "state", traceLine(0, r.Baseline))
	defer closeAll(conns)
	half := 0
	if c.Halfway {
		half = c.N / 2
		first := openAll(ctx, c, conns, 0, half, true, &lines, log)
		log.Info("first half open", "open", first.Open, "errors", first.Errors, "seconds", first.Seconds)
		r.SettleTrace = m.settle(ctx, c, time.Now())
		mid := m.snapshot(ctx)
		r.Halfway = &mid
		r.Ramp = first
	}
	ramp := openAll(ctx, c, conns, half, c.N, true, &lines, log)
	lastIdle := time.Now()
	log.Info("ramp done", "open", ramp.Open, "errors", ramp.Errors, "seconds", ramp.Seconds, "first_error", ramp.FirstError, "stopped", ramp.Stopped)
	if r.Halfway != nil {
		r.Ramp = r.Ramp.add(ramp)
	} else {
		r.Ramp = ramp
	}
	if r.Ramp.Open == 0 {
		return r, fmt.Errorf("no connection opened: %s", r.Ramp.FirstError)
	}

	r.SettleTrace = append(r.SettleTrace, m.settle(ctx, c, lastIdle)...)
	r.Idle = m.snapshot(ctx)
	r.ClientRSS = procmem.SelfRSSKiB()
	r.PerConn = perConnection(r.Baseline, r.Idle, r.Ramp.Open)
	if r.Halfway != nil {
		second := perConnection(*r.Halfway, r.Idle, ramp.Open)
		r.SecondHalf = &second
	}

	var err error
	if c.Upgrade != "" {
		u, stopNew := upgrade(ctx, c, m, conns, log)
		defer stopNew()
		r.Upgrade = &u
		if u.Error != "" {
			err = fmt.Errorf("upgrade: %s", u.Error)
		}
	}
	switch {
	case err != nil:
	case c.Fanout:
		var f fanoutResult
		f, err = fanout(ctx, c, m, conns, log)
		r.Fanout = &f
	case c.Deliveries > 0:
		var w wakeResult
		w, err = wakeLatency(ctx, c, conns, log)
		r.Wake = &w
	}
	if err == nil && c.Cycles > 0 {
		cy := cycles(ctx, c, m, conns, log)
		// What the wakes left, measured as the ramp's sleepers were.
		sleepCtx(ctx, c.Settle)
		after := m.snapshot(ctx)
		cy.After = &after
		r.Cycles = &cy
	}
	for _, ic := range conns {
		if ic != nil && ic.closed.Load() {
			r.ClosedByServer++
		}
	}
	r.UntaggedLines = lines.Load()
	r.Seconds = time.Since(start).Seconds()
	r.printTable(out)
	return r, err
}
