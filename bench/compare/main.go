// Command compare runs the same workloads against Dovecot and Dormouse in
// one run and reports both side by side: idle memory per connection with
// and without hibernation, wake latency, an active mixed workload and a
// full mbsync pull. It writes a Markdown table (also on stdout), the raw
// figures as JSON and SVG plots. bench/compare/run.sh prepares the machine
// and calls it; see README.md.
//
// Everything it starts (both servers, bench/idle, mbsync) is stopped before
// it returns, and all traffic goes to 127.0.0.1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	mode, work, out, dormouseBin, idleBin, mailUser, dormouseVersion string
	invocation                                                       string
	portBase                                                         int
	parts                                                            string
	idleNs, servers, hibernate, largeMsgs                            string
	dovecotSet                                                       []string // more dovecot.conf lines
	quota                                                            string   // a quota rule for both servers (quota.go)
	flagSync                                                         string   // Dormouse's [store] flag_sync ("" = its default)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var o options
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.StringVar(&o.mode, "mode", "quick", "quick (development, a few minutes) or full (the published run)")
	fs.StringVar(&o.work, "work", "/tmp/dormouse-compare", "scratch folder (wiped at start): both servers' data, logs, raw JSON")
	fs.StringVar(&o.out, "out", "bench/results", "where the table, JSON and SVG plots go")
	fs.StringVar(&o.dormouseBin, "dormouse", "", "dormouse binary (required)")
	fs.StringVar(&o.idleBin, "idle", "", "bench/idle binary (required for the idle rows)")
	fs.StringVar(&o.mailUser, "mail-user", "dormbench", "system user that owns Dovecot's mail")
	fs.StringVar(&o.dormouseVersion, "dormouse-version", "", "Dormouse version for the report (git describe)")
	fs.IntVar(&o.portBase, "port-base", 22400, "ports used: base (Dovecot IMAP), base+1 (Dormouse IMAP), base+2 (Dormouse metrics)")
	fs.StringVar(&o.invocation, "invocation", "", "the command that ran this, for the report (default: this tool's command line)")
	fs.StringVar(&o.parts, "parts", "active,mbsync,idle", "which workloads to run (comma-separated: active, mbsync, idle, sort, search, large)")
	fs.StringVar(&o.largeMsgs, "large-msgs", "", "message counts of the large part's mailboxes, comma-separated (default: the mode's)")
	fs.StringVar(&o.idleNs, "idle-ns", "", "idle connection counts, comma-separated (default: the mode's)")
	fs.StringVar(&o.servers, "servers", "dovecot,dormouse", "which servers to run (comma-separated)")
	fs.StringVar(&o.hibernate, "hibernate", "off,on", "idle runs with hibernation off, on, or both (comma-separated)")
	fs.Func("dovecot-set", "a dovecot.conf setting added after the template's, e.g. 'mail_fsync = always' (repeatable)", func(v string) error {
		if strings.ContainsAny(v, "\n{}") {
			return errors.New("one plain setting per -dovecot-set")
		}
		o.dovecotSet = append(o.dovecotSet, v)
		return nil
	})
	fs.StringVar(&o.flagSync, "dormouse-flag-sync", "", `Dormouse's [store] flag_sync: "always" or "delayed" (default: Dormouse's own)`)
	fs.StringVar(&o.quota, "quota", "", "quota on in both servers with this Dovecot quota_rule, e.g. '*:storage=100G' (default off)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := run(ctx, o, log); err != nil {
		log.Error("compare", "err", err)
		os.Exit(1)
	}
}

// run does the whole comparison and writes the report.
func run(ctx context.Context, o options, log *slog.Logger) error {
	p, ok := plans[o.mode]
	if !ok {
		return fmt.Errorf("unknown -mode %q", o.mode)
	}
	if o.dormouseBin == "" {
		return errors.New("-dormouse is required")
	}
	if o.flagSync != "" && o.flagSync != "always" && o.flagSync != "delayed" {
		return fmt.Errorf("-dormouse-flag-sync %q: want always or delayed", o.flagSync)
	}
	if o.quota != "" {
		if err := checkQuotaRule(o.quota); err != nil {
			return err
		}
	}
	if o.portBase < 1024 || o.portBase > 65000 {
		return fmt.Errorf("-port-base %d out of range", o.portBase)
	}
	if o.idleNs != "" {
		ns, err := parseInts(o.idleNs)
		if err != nil {
			return fmt.Errorf("-idle-ns: %w", err)
		}
		p.IdleNs = ns
	}
	parts, want, hibs := set(o.parts), set(o.servers), set(o.hibernate)
	var hibModes []bool
	for _, h := range []struct {
		name string
		on   bool
	}{{"off", false}, {"on", true}} {
		if hibs[h.name] {
			hibModes = append(hibModes, h.on)
		}
	}
	if parts["idle"] && o.idleBin == "" {
		return errors.New("-idle is required for the idle rows")
	}
	res := &results{
		Started: time.Now().UTC(), Command: strings.Join(os.Args, " "), Plan: p,
		Machine: readMachine(), Versions: readVersions(o.dormouseVersion),
	}
	if o.invocation != "" {
		res.Command = o.invocation
	}
	if !parts["sort"] && !parts["search"] {
		p.SortMsgs = 0 // no 100,000-message mailbox to build
	}
	if o.largeMsgs != "" {
		ns, err := parseInts(o.largeMsgs)
		if err != nil {
			return fmt.Errorf("-large-msgs: %w", err)
		}
		p.LargeMsgs = ns
	}
	if !parts["large"] {
		p.LargeMsgs = nil
	}
	// The report's rows follow the plan as run, with the flags' sizes
	// (res took a copy before them: -large-msgs 100000,1000000 reported
	// the 100,000 rows alone).
	res.Plan = p
	f := p.fixture()
	dov, dor, err := prepare(o, f, log)
	if err != nil {
		return err
	}
	var servers []server
	for _, s := range []server{dov, dor} {
		if want[s.Name()] {
			servers = append(servers, s)
		}
	}
	defer func() {
		for _, s := range []server{dov, dor} {
			if err := s.Stop(); err != nil {
				log.Warn("stop", "server", s.Name(), "err", err)
			}
		}
	}()
	fail := func(what string, err error) {
		log.Error(what, "err", err)
		res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", what, err))
	}
	if parts["active"] || parts["mbsync"] {
		for _, s := range servers {
			if ctx.Err() != nil {
				break
			}
			if err := busyRuns(ctx, s, p, f, parts, o.work, res); err != nil {
				fail(s.Name()+" active/mbsync", err)
			}
		}
	}
	if parts["sort"] {
		for _, s := range servers {
			if ctx.Err() != nil {
				break
			}
			log.Info("sort run", "server", s.Name(), "messages", p.SortMsgs)
			if err := sortRuns(ctx, s, f, res); err != nil {
				fail(s.Name()+" sort", err)
			}
		}
	}
	if parts["search"] {
		for _, s := range servers {
			if ctx.Err() != nil {
				break
			}
			log.Info("search run", "server", s.Name(), "messages", p.SyncMsgs, "and", p.SortMsgs)
			if err := searchRuns(ctx, s, p, f, res); err != nil {
				fail(s.Name()+" search", err)
			}
		}
	}
	if parts["large"] {
		for _, s := range servers {
			if ctx.Err() != nil {
				break
			}
			log.Info("large run", "server", s.Name(), "messages", p.LargeMsgs)
			if err := largeRuns(ctx, s, p, f, res); err != nil {
				fail(s.Name()+" large", err)
			}
		}
	}
	if parts["idle"] {
		for _, s := range servers {
			for _, hib := range hibModes {
				for _, n := range p.IdleNs {
					if ctx.Err() != nil {
						break
					}
					log.Info("idle run", "server", s.Name(), "hibernate", hib, "n", n)
					r, err := idleOnce(ctx, s, hib, n, p, f, o)
					if err != nil {
						fail(fmt.Sprintf("idle %s hibernate=%v n=%d", s.Name(), hib, n), err)
						continue
					}
					res.Idle = append(res.Idle, r)
				}
			}
		}
	}
	res.Finished = time.Now().UTC()
	if ctx.Err() != nil {
		res.Errors = append(res.Errors, "interrupted: "+ctx.Err().Error())
	}
	if err := writeReport(res, o.out, os.Stdout); err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d part(s) failed: %s", len(res.Errors), strings.Join(res.Errors, "; "))
	}
	return nil
}

// prepare wipes the scratch folder and gives both servers the same users
// and the same Maildir contents (hard links of one set of files).
func prepare(o options, f fixture, log *slog.Logger) (*dovecot, *dormouse, error) {
	if err := os.RemoveAll(o.work); err != nil {
		return nil, nil, fmt.Errorf("wipe %s: %w", o.work, err)
	}
	dovBase, dorData := filepath.Join(o.work, "dovecot"), filepath.Join(o.work, "dormouse")
	for _, d := range []string{dovBase, dorData, filepath.Join(o.work, "raw"), filepath.Join(o.work, "pids")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, nil, fmt.Errorf("prepare: %w", err)
		}
	}
	t := time.Now()
	bytes, err := f.build([]string{filepath.Join(dovBase, "users"), filepath.Join(dorData, "users")})
	if err != nil {
		return nil, nil, err
	}
	log.Info("fixture", "users", len(f.users()), "pool_bytes", bytes, "took", time.Since(t).Round(time.Millisecond))
	if err := chownTree(filepath.Join(dovBase, "users"), o.mailUser); err != nil {
		return nil, nil, err
	}
	pw := f.passwdFile()
	if err := os.WriteFile(filepath.Join(dorData, "passwd"), pw, 0o600); err != nil {
		return nil, nil, fmt.Errorf("prepare: %w", err)
	}
	// Dovecot's auth process runs as the dovecot user and reads it.
	dovPasswd := filepath.Join(dovBase, "passwd")
	if err := os.WriteFile(dovPasswd, pw, 0o640); err != nil {
		return nil, nil, fmt.Errorf("prepare: %w", err)
	}
	if err := chgrp(dovPasswd, "dovecot"); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dorData, "dormouse.toml"), []byte(dormouseBenchConf+dormouseQuotaConf(o.quota)+dormouseStoreConf(o.flagSync)), 0o644); err != nil {
		return nil, nil, fmt.Errorf("prepare: %w", err)
	}
	pids := filepath.Join(o.work, "pids")
	dov := &dovecot{base: dovBase, port: o.portBase, mailUser: o.mailUser, extra: append(dovecotQuotaConf(o.quota), o.dovecotSet...),
		serverProcess: serverProcess{pidFile: filepath.Join(pids, "dovecot.pid")}}
	dor := &dormouse{bin: o.dormouseBin, data: dorData, port: o.portBase + 1, metricsPort: o.portBase + 2,
		logFile: filepath.Join(o.work, "dormouse.log"), serverProcess: serverProcess{pidFile: filepath.Join(pids, "dormouse.pid")}}
	return dov, dor, nil
}

// busyRuns starts s without hibernation (it plays no part here), warms
// its indexes, then runs the active workload and the mbsync pull.
func busyRuns(ctx context.Context, s server, p plan, f fixture, parts map[string]bool, work string, res *results) error {
	if err := s.Start(ctx, false); err != nil {
		return err
	}
	defer s.Stop()
	// Both servers build their index of a Maildir on first open; a real
	// server has it already, so every mailbox is opened once first.
	if err := warm(ctx, s.Addr(), append(f.activeUsers(), f.SyncUser), f.Password); err != nil {
		return err
	}
	if parts["active"] {
		r, err := runActive(ctx, activeConfig{
			Addr: s.Addr(), Users: f.activeUsers(), Password: f.Password,
			Duration: p.ActiveFor, MaxOps: 10_000_000, Timeout: 60 * time.Second, PID: s.PID(),
		})
		if err != nil {
			return err
		}
		res.setActive(s.Name(), r)
	}
	if parts["mbsync"] {
		r, err := runMbsyncMedian(ctx, filepath.Join(work, "mbsync-"+s.Name()), s.Addr(), f.SyncUser, f.Password, s.PID(), 10*time.Minute)
		if err != nil {
			return err
		}
		res.setMbsync(s.Name(), r)
	}
	return s.Stop()
}

// sortRuns starts s without hibernation, opens the SORT mailbox once
// (both servers index it) and measures the sort commands.
func sortRuns(ctx context.Context, s server, f fixture, res *results) error {
	if err := s.Start(ctx, false); err != nil {
		return err
	}
	defer s.Stop()
	if err := warm(ctx, s.Addr(), []string{f.SortUser}, f.Password); err != nil {
		return err
	}
	r, err := runSort(ctx, s.Addr(), f.SortUser, f.Password, s.PID())
	if err != nil {
		return err
	}
	res.setSort(s.Name(), r)
	return s.Stop()
}

// warm logs in to each user once, selects INBOX and fetches every flag.
func warm(ctx context.Context, addr string, users []string, pass string) error {
	for _, u := range users {
		c, err := dialIMAP(ctx, addr, 5*time.Minute)
		if err != nil {
			return fmt.Errorf("warm: %w", err)
		}
		err = c.loginSelect(u, pass)
		if err == nil {
			_, err = c.run("FETCH 1:* (FLAGS)", nil)
		}
		if err != nil {
			c.close()
			return fmt.Errorf("warm %s: %w", u, err)
		}
		if err := c.logout(); err != nil {
			return fmt.Errorf("warm %s: %w", u, err)
		}
	}
	return nil
}

// idleOnce starts s fresh, runs bench/idle with n connections and stops s.
func idleOnce(ctx context.Context, s server, hib bool, n int, p plan, f fixture, o options) (idleResult, error) {
	if err := s.Start(ctx, hib); err != nil {
		return idleResult{}, err
	}
	tag := fmt.Sprintf("idle-%s-hib%v-n%d", s.Name(), hib, n)
	// Wake latency is reported at the largest N only; deliveries at the
	// others would cost a minute a run (Dovecot without hibernation
	// batches for 500 ms per delivery) and show nowhere.
	deliveries := 0
	if n == slices.Max(p.IdleNs) {
		deliveries = p.Deliveries
	}
	r, err := runIdle(ctx, idleRun{
		bin: o.idleBin, srv: s, hibernate: hib, n: n, perUser: p.PerUser,
		userFmt: f.IdleFmt, password: f.Password, settle: p.Settle, deliveries: deliveries,
		jsonFile: filepath.Join(o.work, "raw", tag+".json"), logFile: filepath.Join(o.work, "raw", tag+".log"),
		timeout: p.IdleTimeout,
	})
	return r, errors.Join(err, s.Stop())
}

// set splits a comma-separated flag into its trimmed words.
func set(list string) map[string]bool {
	out := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		out[strings.TrimSpace(s)] = true
	}
	return out
}

// parseInts reads a comma-separated list of positive integers.
func parseInts(list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive count", s)
		}
		out = append(out, n)
	}
	return out, nil
}
