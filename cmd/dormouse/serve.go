package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/config"
	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/handover"
	"github.com/dormouse/dormouse/internal/memreturn"
	"github.com/dormouse/dormouse/internal/spool"
	"github.com/dormouse/dormouse/internal/tlsutil"
	"github.com/dormouse/dormouse/lmtp"
	"github.com/dormouse/dormouse/mailstore/maildir"
	"github.com/dormouse/dormouse/notice"
)

// shutdownTimeout bounds how long commands in flight may take to finish
// after SIGTERM before connections are closed anyway.
const shutdownTimeout = 30 * time.Second

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := config.Default()
	dataFlag := fs.String("data", "", "data folder: mail, users, certificates, config (default ./"+defaultDataDir+")")
	configFlag := fs.String("config", "", "configuration file (default DATA/dormouse.toml)")
	listen := newListenFlags(fs, "imap", "imaps", "lmtp", "metrics")
	hibernate := fs.Duration("hibernate-after", d.IMAP.HibernateAfter.Std(), "idle time before a logged-in connection (in IDLE or between commands) hibernates (0 = never)")
	logFormat := fs.String("log-format", string(d.Log.Format), "log format: text or json")
	pprofFlag := fs.Bool("pprof", false, "also serve Go profiles at /debug/pprof/ on the metrics address (for measurements)")
	takeoverFlag := fs.Bool("takeover", false, "upgrade: take over the listening sockets and sleeping IMAP connections of the dormouse serving this data folder, which then exits")
	if err := fs.Parse(args); err != nil {
		return withCode(exitUsage, err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	cfg, l, err := loadConfig(*dataFlag, *configFlag)
	if err != nil {
		return err
	}
	// Flags given on the command line override the file; flags left out
	// do not reset what the file says.
	flagErr := listen.apply(fs, &cfg)
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "hibernate-after":
			if *hibernate < 0 {
				flagErr = errors.New("--hibernate-after must not be negative")
			}
			cfg.IMAP.HibernateAfter = config.Duration(*hibernate)
		case "log-format":
			if err := cfg.Log.Format.UnmarshalText([]byte(*logFormat)); err != nil {
				flagErr = fmt.Errorf("--log-format: %w", err)
			}
		}
	})
	if flagErr != nil {
		return withCode(exitUsage, flagErr)
	}
	logs := newLogCounter(newLogger(cfg.Log, stderr).Handler())
	log := slog.New(logs)
	applyRuntime(cfg.Runtime, log)

	demoPW, err := firstStart(cfg, l)
	if err != nil {
		return withCode(exitCantCreate, err)
	}
	if demoPW != "" {
		// Printed once, to stdout, never logged.
		fmt.Fprintf(stdout, "Created user \"demo\" with password %s\n(change it with: dormouse user passwd --data %s demo)\n", demoPW, l.data)
	}
	return serve(cfg, l, log, logs.counts, *pprofFlag, *takeoverFlag)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func plainPolicy(p config.Plaintext) imapserver.PlaintextAuth {
	switch p {
	case config.PlaintextAlways:
		return imapserver.PlaintextAlways
	case config.PlaintextNever:
		return imapserver.PlaintextNever
	default:
		return imapserver.PlaintextLoopback
	}
}

// serve runs the listeners until SIGTERM or SIGINT, then shuts down, or
// until a new process takes over (upgrade.go), then hands over and exits.
// logCounts counts what log writes (logCounter), to be exported. With
// takeover it first takes over from the server running on l.data.
func serve(cfg config.Config, l layout, log *slog.Logger, logCounts prometheus.Collector, pprof, takeover bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Caught from the start: SIGHUP's default action would kill the server.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Under systemd: the sockets its socket units opened (so that ports
	// below 1024 need no privilege here), and where to report readiness.
	sd := newNotifier()
	activated, err := activatedListeners()
	if err != nil {
		return withCode(exitConfigError, fmt.Errorf("socket activation: %w", err))
	}
	defer func() {
		for _, ln := range activated { // those not handed to a server
			ln.Close()
		}
	}()

	// The new process this one hands over to, if it does: hung up after
	// the store is closed (deferred before it, so run after it), which
	// tells the new process that nothing here writes any more.
	var handedTo *handover.Conn
	defer func() {
		if handedTo != nil {
			handedTo.Close()
		}
	}()

	certs, err := tlsutil.NewLoader(l.tlsCert, l.tlsKey)
	if err != nil {
		return withCode(exitConfigError, err)
	}
	tlsConfig := certs.Config()

	users, err := auth.Open(l.passwd)
	if err != nil {
		return withCode(exitConfigError, err)
	}
	if err := users.CacheLogins(auth.CacheLimits{TTL: cfg.Auth.CacheTTL.Std(), MaxEntries: int(cfg.Auth.CacheSize)}); err != nil {
		return withCode(exitSoftware, err)
	}
	store, err := maildir.Open(l.mail, maildir.Options{
		Logger:         log.With("component", "store"),
		MaxMessageSize: cfg.Limits.MaxLiteral,
		QuotaLimits:    quotaLimits(cfg.Quota, users, log.With("component", "quota")),
		FlagSyncDelay:  cfg.Store.StoreFlagSyncDelay(),
		NoFolderWatch:  !cfg.Store.Inotify,
	})
	if err != nil {
		return withCode(exitTempFail, err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()
	// This process's own spool folder, then what dead ones left.
	sp, err := spool.Open(l.spool)
	if err != nil {
		return withCode(exitCantCreate, err)
	}
	defer func() {
		if err := sp.Close(); err != nil {
			log.Warn("remove spool folder", "err", err)
		}
	}()
	tidy(l.spool, store, log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	imapMetrics := imapserver.NewMetrics()
	guardMetrics := imapserver.NewGuardMetrics()
	lmtpMetrics := lmtp.NewMetrics()
	reg.MustRegister(imapMetrics.Collectors()...)
	reg.MustRegister(guardMetrics.Collectors()...)
	reg.MustRegister(lmtpMetrics.Collectors()...)
	reg.MustRegister(loginCacheCollectors(users)...)
	reg.MustRegister(logCounts)
	// The heap of sessions that went to sleep goes back to the OS once
	// their wave is over, and so does what a background search-index
	// build left (internal/memreturn, with the figures that keep it;
	// [runtime] memory_limit is the runtime's own means, beside it).
	memory := memreturn.New()
	memReturns := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "imap", Name: "hibernation_memory_returns_total",
		Help: "Times the heap freed by a wave of hibernations, or left by a background search-index build, was returned to the OS.",
	})
	reg.MustRegister(memReturns)
	hintCount := hintMetrics()
	reg.MustRegister(hintCount)
	// Change notices on NATS ([cluster] nats): stopped before the store
	// closes (deferred after it).
	nts, err := startNotices(cfg, l, store, reg, log.With("component", "notice"))
	if err != nil {
		return err
	}
	defer nts.stop()

	imapSrv, err := imapserver.New(imapserver.Config{
		Store:  store,
		Auth:   users,
		TLS:    tlsConfig,
		Plain:  plainPolicy(cfg.Auth.Plaintext),
		Logger: log.With("proto", "imap"),
		Limits: imapserver.Limits{
			MaxLine:          int(cfg.Limits.MaxLine),
			MaxLiteral:       cfg.Limits.MaxLiteral,
			LoginTimeout:     cfg.Limits.LoginTimeout.Std(),
			IdleTimeout:      cfg.Limits.IdleTimeout.Std(),
			FailedLoginDelay: durationOrOff(cfg.Limits.FailedLoginDelay.Std()),

			CommandTimeout:       cfg.Limits.CommandTimeout.Std(),
			TLSHandshakeTimeout:  cfg.Limits.TLSHandshakeTimeout.Std(),
			MaxPreAuthPerAddr:    limitOrOff(cfg.Limits.MaxPreAuthPerAddr),
			LoginFailuresPerAddr: limitOrOff(cfg.Limits.LoginFailuresPerAddr),
			LoginFailuresPerUser: limitOrOff(cfg.Limits.LoginFailuresPerUser),
			LoginFailureRefill:   cfg.Limits.LoginFailureRefill.Std(),
			LoginPenaltyMax:      durationOrOff(cfg.Limits.LoginPenaltyMax.Std()),

			MaxConnsPerUser:     limitOrOff(cfg.Limits.MaxConnectionsPerUser),
			MaxConnsPerUserAddr: limitOrOff(cfg.Limits.MaxConnectionsPerUserAddr),
			MaxMailboxesPerUser: limitOrOff(cfg.Limits.MaxMailboxesPerUser),

			MaxMetadataEntrySize: int64(limitOrOff(cfg.Limits.MaxMetadataEntrySize)),
			MaxMetadataEntries:   limitOrOff(cfg.Limits.MaxMetadataEntries),
			MaxMetadataSize:      int64(limitOrOff(cfg.Limits.MaxMetadataSize)),
		},
		SpoolDir:       sp.Path(),
		HibernateAfter: cfg.IMAP.HibernateAfter.Std(),
		IdleKeepalive:  cfg.IMAP.IdleKeepalive.Std(),
		Metrics:        imapMetrics,
		GuardMetrics:   guardMetrics,
		Slept:          memory.NoteSleep,
		JobDone:        memory.NoteJobDone,
		QuotaAdmins:    strings.Fields(cfg.Quota.Admins),
		ServerNames:    strings.Fields(cfg.IMAP.ServerNames),

		URLAuthSubmitters: strings.Fields(cfg.IMAP.URLAuthSubmitters),
		ProxySecret:       cfg.Cluster.Secret,
		HandoffWatchLease: cfg.Cluster.HandoffWatchLease.Std(),
		HandoffWatchMax:   limitOrOff(cfg.Cluster.HandoffWatchMax), // 0: none held
	})
	if err != nil {
		return withCode(exitConfigError, err)
	}
	// The admin, hint and handover sockets; a process taking over opens
	// them once the old one has closed its own.
	var admin *adminServer
	var hints *hintListener
	var upgrades *upgradeListener
	listenLocal := func() error {
		var err error
		admin, err = listenAdmin(filepath.Join(l.data, adminSocketName), imapSrv, store, log.With("component", "admin"))
		if errors.Is(err, errAdminPathTooLong) {
			log.Warn("no admin socket", "err", err)
			return nil // nor a hint or handover socket: the same path's length
		} else if err != nil {
			return err
		}
		hints, err = listenHints(filepath.Join(l.data, notice.HintSocketName), store, hintCount, log.With("component", "hints"))
		if errors.Is(err, errHintPathTooLong) && cfg.Store.Inotify {
			log.Warn("no hint socket", "err", err)
		} else if err != nil {
			return err
		}
		upgrades, err = listenUpgrade(filepath.Join(l.data, upgradeSocketName), log.With("component", "upgrade"))
		if errors.Is(err, errUpgradePathTooLong) {
			log.Warn("no handover socket", "err", err)
			return nil
		}
		return err
	}
	defer func() {
		admin.close()
		hints.close()
		upgrades.close()
	}()
	if !takeover {
		if err := listenLocal(); err != nil {
			return withCode(exitTempFail, err)
		}
	}
	lmtpSrv, err := lmtp.New(lmtp.Config{
		Store:           store,
		Users:           users,
		Logger:          log,
		MaxMessageBytes: cfg.Limits.MaxLiteral,
		SpoolDir:        sp.Path(),
		Metrics:         lmtpMetrics,

		RecipientDelimiter:  cfg.LMTP.RecipientDelimiter,
		SaveToDetailMailbox: cfg.LMTP.SaveToDetailMailbox,
	})
	if err != nil {
		return withCode(exitSoftware, err)
	}
	metricsSrv := &http.Server{
		Handler:           metricsHandler(reg, pprof),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// Listen on everything before serving anything, so that a port in use
	// is an error at start, not a half-running server.
	type listener struct {
		name  string
		addr  config.Addr
		serve func(net.Listener) error
		tls   bool
		ln    net.Listener
		raw   net.Listener // ln without TLS: the socket a takeover gets
	}
	lns := []*listener{
		{name: "imap", addr: cfg.Listen.IMAP, serve: imapSrv.Serve},
		{name: "imaps", addr: cfg.Listen.IMAPS, serve: imapSrv.Serve, tls: true},
		{name: "lmtp", addr: cfg.Listen.LMTP, serve: lmtpSrv.Serve},
		{name: "metrics", addr: cfg.Listen.Metrics, serve: metricsSrv.Serve},
	}
	var taking *takeoverConn
	if takeover {
		t, inherited, err := dialTakeover(filepath.Join(l.data, upgradeSocketName), log.With("component", "upgrade"))
		if err != nil {
			return withCode(exitTempFail, err)
		}
		defer t.hc.Close()
		taking = t
		if activated == nil {
			activated = make(map[string]net.Listener)
		}
		for name, ln := range inherited {
			if old := activated[name]; old != nil {
				old.Close()
			}
			activated[name] = ln
		}
	}
	for _, ln := range lns {
		// A socket passed by systemd, or by the server taken over,
		// takes the place of the configured address of the same name.
		nl, err := activated[ln.name], error(nil)
		delete(activated, ln.name)
		if nl == nil {
			if ln.addr == "" {
				continue
			}
			nl, err = net.Listen("tcp", string(ln.addr))
		}
		if err != nil {
			for _, o := range lns {
				if o.ln != nil {
					o.ln.Close()
				}
			}
			return withCode(exitTempFail, fmt.Errorf("listen %s: %w", ln.name, err))
		}
		ln.raw = nl
		if ln.tls {
			nl = imapserver.NewTLSListener(nl, tlsConfig)
		}
		ln.ln = nl
	}

	errc := make(chan error, len(lns))
	var wg sync.WaitGroup
	for _, ln := range lns {
		if ln.ln == nil {
			continue
		}
		log.Info("listening", "listener", ln.name, "addr", ln.ln.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := ln.serve(ln.ln)
			if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, imapserver.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("%s: %w", ln.name, err)
			}
		}()
	}
	if taking != nil {
		if err := taking.adopt(imapSrv, imapMetrics); err != nil {
			log.Error("upgrade", "err", err)
		}
		if err := listenLocal(); err != nil {
			log.Error("admin and handover sockets", "err", err)
		}
	}
	log.Info("dormouse started", "data", l.data, "hibernate_after", cfg.IMAP.HibernateAfter.Std().String(), "plaintext", string(cfg.Auth.Plaintext))
	if err := sd.notify("READY=1"); err != nil {
		log.Warn("tell systemd", "err", err)
	}

	tidyCtx, stopTidy := context.WithCancel(ctx)
	tidied := make(chan struct{})
	go func() {
		defer close(tidied)
		tidyEvery(tidyCtx, l.spool, store, log)
	}()
	returning := make(chan struct{})
	go func() {
		defer close(returning)
		memory.Run(tidyCtx, memReturns.Inc)
	}()
	following := make(chan struct{})
	go func() {
		defer close(following)
		followHeap(tidyCtx, cfg.Runtime, log)
	}()
	defer func() {
		stopTidy()
		<-tidied
		<-returning
		<-following
	}()

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			break loop
		case <-hup:
			state, err := reloading()
			if err == nil {
				err = sd.notify(state)
			}
			if err != nil {
				log.Warn("tell systemd", "err", err)
			}
			if err := certs.Reload(); err != nil {
				log.Error("reload certificate; keeping the old one", "err", err)
			} else {
				log.Info("certificate reloaded", "cert", l.tlsCert)
			}
			users.FlushLoginCache()
			if err := sd.notify("READY=1"); err != nil {
				log.Warn("tell systemd", "err", err)
			}
		case serveErr = <-errc:
			log.Error("listener failed", "err", serveErr)
			break loop
		case hc := <-upgrades.requests():
			log.Info("upgrade: a new process takes over")
			// Its own admin, hint and handover sockets take these names.
			admin.close()
			hints.close()
			upgrades.close()
			var raws []rawListener
			for _, ln := range lns {
				if ln.raw != nil {
					raws = append(raws, rawListener{ln.name, ln.raw})
				}
			}
			if err := sendListeners(hc, raws); err != nil {
				log.Error("upgrade failed; serving on", "err", err)
				hc.Close()
				if err := listenLocal(); err != nil {
					log.Error("admin and handover sockets", "err", err)
				}
				continue
			}
			handedTo = hc
			break loop
		}
	}
	stop() // a second SIGTERM or SIGINT now kills the process at once
	admin.close()
	if err := sd.notify("STOPPING=1"); err != nil {
		log.Warn("tell systemd", "err", err)
	}

	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// LMTP and metrics first: they finish quickly, and a delivery in
	// progress completes (and is acknowledged) before the store closes.
	var sw sync.WaitGroup
	for _, f := range []struct {
		name string
		fn   func(context.Context) error
	}{{"lmtp", lmtpSrv.Shutdown}, {"metrics", metricsSrv.Shutdown}, {"imap", func(ctx context.Context) error {
		if handedTo == nil {
			return imapSrv.Shutdown(ctx)
		}
		handOver(ctx, handedTo, imapSrv, log.With("component", "upgrade"))
		return nil
	}}} {
		sw.Add(1)
		go func() {
			defer sw.Done()
			if err := f.fn(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("shutdown", "listener", f.name, "err", err)
			}
		}()
	}
	sw.Wait()
	// A Serve that had not yet registered its listener when Shutdown ran
	// would accept forever; closing every listener here ends it too.
	for _, ln := range lns {
		if ln.ln != nil {
			ln.ln.Close()
		}
	}
	wg.Wait()
	log.Info("stopped")
	if serveErr != nil {
		return withCode(exitSoftware, serveErr)
	}
	return nil
}

// loginCacheCollectors export the login cache's counters.
func loginCacheCollectors(users *auth.PasswdFile) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dormouse_auth_cache_hits_total",
			Help: "Logins accepted by the login cache without the full password hash check.",
		}, func() float64 { return float64(users.LoginCacheStats().Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dormouse_auth_cache_misses_total",
			Help: "Password checks the login cache could not answer (user not remembered, expired, changed, or a wrong password).",
		}, func() float64 { return float64(users.LoginCacheStats().Misses) }),
	}
}

// durationOrOff maps the config's 0 (no delay) to the server's
// "negative is none", since the server reads 0 as "use the default".
func durationOrOff(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// limitOrOff maps the config's 0 (no limit; for handoff_watch_max, no
// watch held) to the server's negative, since the server reads 0 as "use
// the default".
func limitOrOff(n int64) int {
	if n == 0 {
		return -1
	}
	return int(n)
}

// metricsHandler serves the metrics, and with pprof the runtime's
// profiles: a heap profile of a running server is how per-connection
// memory is attributed (bench/idle). They stay off by default, since
// profiles show internals to anyone who reaches the metrics address.
func metricsHandler(reg *prometheus.Registry, pprof bool) http.Handler {
	mux := http.NewServeMux()
	// Uncompressed: a gzip writer takes about 1 MB of heap per scrape
	// (compress/flate) to save a few KB of text, and its garbage would
	// be most of what an idle server allocates.
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, DisableCompression: true}))
	if pprof {
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "Dormouse: metrics at /metrics")
	})
	return mux
}
