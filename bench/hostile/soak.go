package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
	"github.com/dormouse/dormouse/bench/internal/stats"
	"github.com/dormouse/dormouse/internal/imaptest"
)

// soakConfig is one soak run's settings.
type soakConfig struct {
	duration, warmup, every, think, deliverEvery, hibernateAfter, timeout time.Duration
	clients, idlers, users                                                int
	hostile                                                               bool
	hostileRate                                                           float64  // attacks per second
	attackKinds                                                           []string // the kinds cycled through
	hostileInFlight                                                       int
	hostileTimeout                                                        time.Duration
	floodFrom, hostileFrom, guessFrom                                     string
	floodConns, preauthMiB, envMsgs, searchKeys                           int
	guesses, madeUp, rcpts                                                int
	maxRSSMiB                                                             int64
	p99Floor                                                              time.Duration
	baseline                                                              string
	// attackersApart runs the hostile clients in a child process (see
	// runAttackers), args being this run's flags to hand it.
	attackersApart bool
	args           []string
	// attackerOf, in that child, names the server it attacks.
	attackerOf *server
}

// soakResult is what a soak found; its JSON is what -baseline reads.
type soakResult struct {
	Started       time.Time             `json:"started"`
	Seconds       float64               `json:"seconds"`
	Hostile       bool                  `json:"hostile"`
	HostileRate   float64               `json:"hostile_rate_per_s"`
	Latency       map[string]stats.Dist `json:"latency"`
	Errors        map[string]int        `json:"errors"`
	FirstErrors   map[string]string     `json:"first_errors,omitempty"`
	Attacks       map[string]int        `json:"attacks"`
	AttacksUndone map[string]int        `json:"attacks_not_carried_out"`
	RSSMaxKiB     int64                 `json:"rss_max_kib"`
	RSSEndKiB     int64                 `json:"rss_end_kib"`
	FDsMax        int                   `json:"fds_max"`
	FDsEnd        int                   `json:"fds_end"`
	CPUSeconds    float64               `json:"server_cpu_s"`
	Crashes       int                   `json:"crashes"`
	Acked         int                   `json:"acknowledged"`
	Lost          []string              `json:"lost"`
	CheckErr      string                `json:"check_error,omitempty"`
	Criteria      []criterion           `json:"criteria"`
	Pass          bool                  `json:"pass"`
}

// criterion is one pass criterion and its verdict.
type criterion struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

func mainSoak(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	var cfg soakConfig
	fs.DurationVar(&cfg.duration, "duration", 30*time.Minute, "how long the load runs")
	fs.DurationVar(&cfg.warmup, "warmup", 10*time.Second, "time before -duration when clients start (staggered) and latencies are not counted")
	fs.DurationVar(&cfg.every, "every", 30*time.Second, "report interval")
	fs.IntVar(&cfg.clients, "clients", 6, "well-behaved active clients (login, SELECT, FETCH, SEARCH, STORE, APPEND, short IDLE)")
	fs.IntVar(&cfg.idlers, "idlers", 20, "well-behaved clients that stay in IDLE (hibernated) and are woken by deliveries")
	fs.IntVar(&cfg.users, "users", 4, "well-behaved users the clients and deliveries are spread over")
	fs.DurationVar(&cfg.think, "think", 200*time.Millisecond, "pause between an active client's operations")
	fs.DurationVar(&cfg.deliverEvery, "deliver-every", 500*time.Millisecond, "pause between LMTP deliveries (to the users in turn)")
	fs.DurationVar(&cfg.hibernateAfter, "hibernate-after", time.Second, "the server's --hibernate-after")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "bound on one well-behaved command's round trip")
	fs.BoolVar(&cfg.hostile, "hostile", true, "run the hostile clients too (false: a baseline)")
	fs.Float64Var(&cfg.hostileRate, "hostile-rate", 0.5, "hostile attacks started per second, cycling through the kinds")
	kinds := fs.String("attacks", strings.Join(attackKinds, ","), "the attack kinds to cycle through, comma-separated")
	fs.IntVar(&cfg.hostileInFlight, "hostile-inflight", 4, "at most this many attacks at once")
	fs.DurationVar(&cfg.hostileTimeout, "hostile-timeout", 10*time.Second, "how long an attack waits for an answer before it disconnects")
	fs.StringVar(&cfg.floodFrom, "flood-from", "127.0.0.2", "source address of the silent floods (they fill its per-address limit)")
	fs.StringVar(&cfg.hostileFrom, "hostile-from", "127.0.0.3", "source address of the other hostile clients")
	fs.StringVar(&cfg.guessFrom, "guess-from", "127.0.0.4", "source address of the password guessing (it exhausts its per-address throttle)")
	fs.IntVar(&cfg.floodConns, "flood", 300, "silent IMAPS connections per flood (the per-address limit is 256)")
	fs.IntVar(&cfg.preauthMiB, "preauth-mib", 16, "size of an unauthenticated APPEND {n+} literal, MiB")
	fs.IntVar(&cfg.envMsgs, "env-msgs", 16, "messages with a 1 MB To: header that FETCH ENVELOPE reads")
	fs.IntVar(&cfg.searchKeys, "search-keys", 5400, "copies of BODY zqzqzq in one SEARCH over a 10 MB message")
	fs.IntVar(&cfg.guesses, "guesses", 12, "wrong passwords for a well-behaved user per guessing attack")
	fs.IntVar(&cfg.madeUp, "made-up", 35, "made-up user names per guessing attack")
	fs.IntVar(&cfg.rcpts, "rcpts", 1000, "times one LMTP transaction names the same recipient")
	fs.Int64Var(&cfg.maxRSSMiB, "max-rss", 512, "pass criterion: the server's RSS stays under this many MiB")
	fs.DurationVar(&cfg.p99Floor, "p99-floor", time.Millisecond, "baseline p99s below this are compared as this (sub-millisecond noise)")
	fs.StringVar(&cfg.baseline, "baseline", "", "JSON result of a -hostile=false run: pass if every p99 is within 2× of it")
	fs.BoolVar(&cfg.attackersApart, "attackers-apart", true, "run the hostile clients in a process of their own, so that their work (16 MiB literals, megabyte answers, their garbage) does not delay the measured clients in this one")
	attacker := fs.String("attacker-of", "", "internal: be the hostile clients' process, attacking the server at IMAP,IMAPS,LMTP")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.args = args
	cfg.attackKinds = strings.Split(*kinds, ",")
	for _, k := range cfg.attackKinds {
		if !slices.Contains(attackKinds, k) {
			fmt.Fprintf(stderr, "hostile: unknown attack %q (known: %s)\n", k, strings.Join(attackKinds, ","))
			return 2
		}
	}
	if cfg.hostileRate <= 0 || cfg.hostileInFlight < 1 || cfg.users < 1 || cfg.duration <= 0 {
		fmt.Fprintln(stderr, "hostile: -hostile-rate, -hostile-inflight, -users and -duration must be positive")
		return 2
	}
	if *attacker != "" {
		a := strings.Split(*attacker, ",")
		if len(a) != 3 {
			fmt.Fprintln(stderr, "hostile: -attacker-of wants IMAP,IMAPS,LMTP")
			return 2
		}
		cfg.attackerOf = &server{imap: a[0], imaps: a[1], lmtp: a[2]}
		if err := attackerMain(ctx, &cfg, stdout); err != nil {
			fmt.Fprintln(stderr, "hostile:", err)
			return 2
		}
		return 0
	}
	cleanup, err := cf.prepare()
	if err != nil {
		fmt.Fprintln(stderr, "hostile:", err)
		return 2
	}
	defer cleanup()
	res, err := runSoak(ctx, &cfg, cf, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "hostile:", err)
		return 2
	}
	if cf.jsonOut != "" {
		if err := writeJSON(cf.jsonOut, res); err != nil {
			fmt.Fprintln(stderr, "hostile:", err)
			return 2
		}
	}
	if !res.Pass {
		return 1
	}
	return 0
}

// serverSample is what the monitor has read from /proc.
type serverSample struct {
	rss, rssMax  int64
	fds, fdsMax  int
	cpu, cpuDead time.Duration // cpuDead: CPU of the lives before a crash
	crashes      int
}

// serverStats is the monitor's latest sample, shared with the end of the run.
type serverStats struct {
	mu sync.Mutex
	v  serverSample
}

// soakUsers names the n well-behaved users.
func soakUsers(n int) []string {
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("user%d", i)
	}
	return users
}

// runSoak starts the server and the clients, reports every cfg.every,
// and at the end checks nothing was lost and the pass criteria.
func runSoak(ctx context.Context, cfg *soakConfig, cf commonFlags, out io.Writer) (*soakResult, error) {
	res := &soakResult{Started: time.Now().UTC(), Hostile: cfg.hostile, HostileRate: cfg.hostileRate}
	if !cfg.hostile {
		res.HostileRate = 0
	}
	var base *soakResult
	if cfg.baseline != "" {
		b, err := os.ReadFile(cfg.baseline)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		base = &soakResult{}
		if err := json.Unmarshal(b, base); err != nil {
			return nil, fmt.Errorf("baseline %s: %w", cfg.baseline, err)
		}
	}
	users := soakUsers(cfg.users)
	accounts := map[string]string{hostileUser: password(hostileUser)}
	for _, u := range users {
		accounts[u] = password(u)
	}
	data := filepath.Join(cf.dir, "soak-data")
	os.RemoveAll(data)
	s, err := newServer(serverOpts{bin: cf.bin, hibernateAfter: cfg.hibernateAfter, portBase: cf.portBase}, data, accounts)
	if err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	defer func() {
		if s.running() {
			s.stop(10 * time.Second)
		}
	}()
	for _, u := range users {
		c, err := login(ctx, s.imap, "", u, password(u), cfg.timeout)
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		st, err := c.Command("CREATE "+sentMailbox, nil)
		c.Close()
		if err == nil && !imaptest.IsOK(st) && !strings.Contains(st, "[ALREADYEXISTS]") {
			err = fmt.Errorf("%s", st)
		}
		if err != nil {
			return nil, fmt.Errorf("setup: CREATE %s: %w", sentMailbox, err)
		}
	}
	rec := newRecorder(time.Now().Add(cfg.warmup))
	env := &wellEnv{cfg: cfg, imap: s.imap, lmtp: s.lmtp, rec: rec, led: newLedger(), wakes: &wakeClock{last: map[string]time.Time{}}}
	host := &hostileEnv{cfg: cfg, s: s, rec: rec, users: users}
	if cfg.hostile {
		if err := host.setup(ctx); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "hostile soak: %s, %s, %v, %d active + %d idle clients over %d users, delivery every %v, hibernate after %v, hostile %v",
		cf.bin, hostInfo(), cfg.duration, cfg.clients, cfg.idlers, cfg.users, cfg.deliverEvery, cfg.hibernateAfter, cfg.hostile)
	if cfg.hostile {
		fmt.Fprintf(out, " (%.2f attacks/s, ≤ %d at once, kinds %s; left out: full disk, SIGKILL, user add)", cfg.hostileRate, cfg.hostileInFlight, strings.Join(cfg.attackKinds, " "))
	}
	fmt.Fprintln(out)

	st := &serverStats{}
	lctx, stopLoad := context.WithTimeout(ctx, cfg.warmup+cfg.duration)
	defer stopLoad()
	var wg sync.WaitGroup
	monDone := make(chan struct{})
	monStop := make(chan struct{})
	go func() {
		defer close(monDone)
		monitor(s, st, monStop, lctx.Done(), out, rec, cfg.every)
	}()
	// Clients start spread over the first half of the warm-up.
	stagger := cfg.warmup / 2 / time.Duration(max(cfg.idlers+cfg.clients, 1))
	for i := range cfg.idlers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sleepCtx(lctx, time.Duration(i)*stagger)
			env.idler(lctx, users[i%len(users)])
		}()
	}
	for i := range cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sleepCtx(lctx, time.Duration(cfg.idlers+i)*stagger)
			env.activeClient(lctx, i, users[i%len(users)])
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); env.deliverer(lctx, users) }()
	if cfg.hostile {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !cfg.attackersApart {
				host.run(lctx)
				return
			}
			if err := runAttackers(lctx, cfg, s, rec); err != nil {
				rec.fail("hostile process", err)
			}
		}()
	}
	<-lctx.Done()
	wg.Wait()
	loadEnd := time.Now()

	// Let work the attacks left behind finish (bounded) before checking.
	lost, err := env.lost(ctx, 2*time.Minute)
	close(monStop)
	<-monDone
	res.Seconds = loadEnd.Sub(res.Started).Seconds() - cfg.warmup.Seconds()
	res.Latency = rec.dists()
	res.Errors, res.FirstErrors, res.Attacks, res.AttacksUndone = rec.snapshot()
	st.mu.Lock()
	v := st.v
	st.mu.Unlock()
	res.RSSMaxKiB, res.RSSEndKiB, res.FDsMax, res.FDsEnd = v.rssMax, v.rss, v.fdsMax, v.fds
	res.CPUSeconds = (v.cpu + v.cpuDead).Seconds()
	res.Crashes = v.crashes
	res.Acked = env.led.count()
	res.Lost = lost
	if err != nil {
		res.CheckErr = err.Error()
	}
	res.Criteria = criteria(cfg, res, base)
	res.Pass = true
	for _, c := range res.Criteria {
		res.Pass = res.Pass && c.Pass
	}
	printSoak(out, res)
	return res, nil
}

// monitor samples the server every second, restarts it when it has
// exited (a crash), and prints a report every interval until the load is
// done; it samples until stop.
func monitor(s *server, st *serverStats, stop, loadDone <-chan struct{}, out io.Writer, rec *recorder, every time.Duration) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	lastReport := start
	lastCPU := time.Duration(0)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if !s.running() {
			st.mu.Lock()
			st.v.crashes++
			st.v.cpuDead += st.v.cpu
			st.v.cpu = 0
			st.mu.Unlock()
			note := fmt.Sprintf("server exited at %v (%v); restarting", time.Since(start).Round(time.Second), s.cmd.ProcessState)
			fmt.Fprintln(out, "CRASH:", note)
			lastCPU = 0
			if err := s.start(); err != nil {
				fmt.Fprintln(out, "CRASH: restart failed:", err)
			}
			continue
		}
		pid := s.pid()
		rss, _ := procmem.StatusKiB(pid, "VmRSS")
		hwm, _ := procmem.StatusKiB(pid, "VmHWM")
		fds, _ := procmem.FDs(pid)
		cpu, _ := procmem.CPU(pid)
		st.mu.Lock()
		st.v.rss, st.v.fds, st.v.cpu = rss, fds, cpu
		st.v.rssMax = max(st.v.rssMax, rss, hwm)
		st.v.fdsMax = max(st.v.fdsMax, fds)
		snap := st.v
		st.mu.Unlock()
		select {
		case <-loadDone:
			continue // the final check runs: no more interval reports
		default:
		}
		if time.Since(lastReport) >= every {
			interval := time.Since(lastReport)
			lastReport = time.Now()
			cpuPct := 100 * (cpu - lastCPU).Seconds() / interval.Seconds()
			lastCPU = cpu
			reportLine(out, time.Since(start), rec, &snap, cpuPct)
		}
	}
}

// reportLine prints one interval's figures.
func reportLine(out io.Writer, at time.Duration, rec *recorder, st *serverSample, cpuPct float64) {
	d := rec.interval()
	errs, _, attacks, _ := rec.snapshot()
	var b strings.Builder
	fmt.Fprintf(&b, "[%v] server rss %s MiB (max %s), fds %d (max %d), cpu %.0f%%, crashes %d, errors %d",
		at.Round(time.Second), mib(st.rss<<10), mib(st.rssMax<<10), st.fds, st.fdsMax, cpuPct, st.crashes, sum(errs))
	if n := sum(attacks); n > 0 {
		fmt.Fprintf(&b, ", attacks %d", n)
	}
	b.WriteString("\n   p50/p99 ms:")
	for _, k := range sortedKeys(d) {
		if d[k].N > 0 {
			fmt.Fprintf(&b, " %s %.1f/%.1f (%d)", k, d[k].P50, d[k].P99, d[k].N)
		}
	}
	fmt.Fprintln(out, b.String())
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// criteria judges a run: p99 within 2× of the baseline's (each kind, with
// the floor), RSS under the bound, no crash, nothing lost, no
// well-behaved errors.
func criteria(cfg *soakConfig, res *soakResult, base *soakResult) []criterion {
	var out []criterion
	if base == nil {
		out = append(out, criterion{Name: "p99 within 2× of the baseline", Pass: true, Detail: "not checked: no -baseline"})
	} else {
		var worse []string
		var detail []string
		for _, k := range sortedKeys(res.Latency) {
			b, ok := base.Latency[k]
			if !ok || b.N == 0 || res.Latency[k].N == 0 {
				continue
			}
			ref := math.Max(b.P99, float64(cfg.p99Floor)/1e6)
			ratio := res.Latency[k].P99 / ref
			detail = append(detail, fmt.Sprintf("%s %.1f/%.1f ms (%.1f×)", k, res.Latency[k].P99, b.P99, ratio))
			if ratio > 2 {
				worse = append(worse, k)
			}
		}
		c := criterion{Name: "p99 within 2× of the baseline", Pass: len(worse) == 0, Detail: strings.Join(detail, ", ")}
		if len(worse) > 0 {
			c.Detail = "over 2×: " + strings.Join(worse, ", ") + "; " + c.Detail
		}
		out = append(out, c)
	}
	out = append(out, criterion{Name: fmt.Sprintf("server RSS under %d MiB", cfg.maxRSSMiB), Pass: res.RSSMaxKiB < cfg.maxRSSMiB<<10,
		Detail: fmt.Sprintf("max %s MiB", mib(res.RSSMaxKiB<<10))})
	out = append(out, criterion{Name: "no crash", Pass: res.Crashes == 0, Detail: fmt.Sprintf("%d", res.Crashes)})
	lost := criterion{Name: "nothing lost", Pass: len(res.Lost) == 0 && res.CheckErr == "",
		Detail: fmt.Sprintf("%d acknowledged, %d missing", res.Acked, len(res.Lost))}
	if res.CheckErr != "" {
		lost.Detail += "; check failed: " + res.CheckErr
	}
	out = append(out, lost)
	out = append(out, criterion{Name: "no well-behaved errors", Pass: sum(res.Errors) == 0, Detail: fmt.Sprintf("%d", sum(res.Errors))})
	return out
}

// printSoak prints the final report.
func printSoak(out io.Writer, res *soakResult) {
	fmt.Fprintf(out, "\n## soak result (%s, %.0f s, hostile %v)\n\n", res.Started.Format("2006-01-02 15:04 UTC"), res.Seconds, res.Hostile)
	fmt.Fprintln(out, "| operation | n | p50 ms | p99 ms | max ms | errors |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|")
	kinds := map[string]bool{}
	for k := range res.Latency {
		kinds[k] = true
	}
	for k := range res.Errors {
		kinds[k] = true
	}
	for _, k := range sortedKeys(kinds) {
		d := res.Latency[k]
		fmt.Fprintf(out, "| %s | %d | %.2f | %.2f | %.1f | %d |\n", k, d.N, d.P50, d.P99, d.Max, res.Errors[k])
	}
	fmt.Fprintf(out, "\nserver: RSS max %s MiB, at the end %s MiB; descriptors max %d, at the end %d; CPU %.1f s; crashes %d\n",
		mib(res.RSSMaxKiB<<10), mib(res.RSSEndKiB<<10), res.FDsMax, res.FDsEnd, res.CPUSeconds, res.Crashes)
	if len(res.Attacks) > 0 {
		var parts []string
		for _, k := range sortedKeys(res.Attacks) {
			parts = append(parts, fmt.Sprintf("%s %d (%d not carried out)", k, res.Attacks[k], res.AttacksUndone[k]))
		}
		fmt.Fprintf(out, "hostile attacks: %s\n", strings.Join(parts, ", "))
	}
	for _, k := range sortedKeys(res.FirstErrors) {
		fmt.Fprintf(out, "first error, %s: %s\n", k, res.FirstErrors[k])
	}
	for i, l := range res.Lost {
		if i == 20 {
			fmt.Fprintf(out, "... and %d more lost\n", len(res.Lost)-i)
			break
		}
		fmt.Fprintf(out, "lost: %s\n", l)
	}
	fmt.Fprintln(out, "\n| criterion | verdict | detail |\n|---|---|---|")
	for _, c := range res.Criteria {
		v := "PASS"
		if !c.Pass {
			v = "FAIL"
		}
		fmt.Fprintf(out, "| %s | %s | %s |\n", c.Name, v, cell(c.Detail))
	}
	if res.Pass {
		fmt.Fprintln(out, "\nsoak: PASS")
	} else {
		fmt.Fprintln(out, "\nsoak: FAIL")
	}
}
