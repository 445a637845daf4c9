package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/config"
	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/memreturn"
	"github.com/dormouse/dormouse/internal/tlsutil"
	"github.com/dormouse/dormouse/notice"
	"github.com/dormouse/dormouse/proxy"
)

// cmdProxy runs `dormouse proxy`: the IMAP front in front of backends
// (package proxy, docs/cluster.md). It reads serve's configuration file
// ([listen] imap and imaps, [tls], [auth], [limits], [imap]
// idle_keepalive) and [cluster] secret and [proxy].
func cmdProxy(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataFlag := fs.String("data", "", "data folder: users, certificates, config (default ./"+defaultDataDir+")")
	configFlag := fs.String("config", "", "configuration file (default DATA/dormouse.toml)")
	listen := newListenFlags(fs, "imap", "imaps", "metrics")
	pprofFlag := fs.Bool("pprof", false, "also serve Go profiles at /debug/pprof/ on the metrics address (for measurements)")
	backends := fs.String("backends", "", "backend IMAP addresses, comma-separated (overrides [proxy] backends)")
	natsURL := fs.String("nats", "", "NATS URL(s) of the change notices, comma-separated (default [cluster] nats; \"\" = none: sleepers wake only for their clients)")
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
	if err := listen.apply(fs, &cfg); err != nil {
		return withCode(exitUsage, err)
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "backends" {
			cfg.Proxy.Backends = strings.FieldsFunc(*backends, func(r rune) bool { return r == ',' || r == ' ' })
		}
	})
	natsSet := false
	fs.Visit(func(f *flag.Flag) { natsSet = natsSet || f.Name == "nats" })
	if !natsSet && cfg.Cluster.NATS != "" {
		urls, embedded, err := notice.ParseNATS(cfg.Cluster.NATS)
		if err != nil {
			return withCode(exitConfigError, fmt.Errorf("cluster.nats: %w", err))
		}
		if embedded != "" {
			// A backend's embedded server: the proxy connects to it.
			urls = "nats://" + embedded
		}
		*natsURL = urls
	}
	if cfg.Cluster.Secret == "" {
		return withCode(exitConfigError, errors.New("proxy: [cluster] secret is not set (the backends must have the same)"))
	}
	if len(cfg.Proxy.Backends) == 0 {
		return withCode(exitConfigError, errors.New("proxy: no backends ([proxy] backends or --backends)"))
	}
	if cfg.Proxy.Route == "kv" && *natsURL == "" {
		return withCode(exitConfigError, errors.New(`proxy: route = "kv" needs NATS (--nats)`))
	}
	log := newLogger(cfg.Log, stderr).With("proto", "proxy")
	applyRuntime(cfg.Runtime, log)

	if cfg.TLS.Cert == "" {
		if _, _, err := tlsutil.EnsureSelfSigned(l.tlsDir); err != nil {
			return withCode(exitCantCreate, err)
		}
	}
	certs, err := tlsutil.NewLoader(l.tlsCert, l.tlsKey)
	if err != nil {
		return withCode(exitConfigError, err)
	}
	users, err := auth.Open(l.passwd)
	if err != nil {
		return withCode(exitConfigError, err)
	}
	if err := users.CacheLogins(auth.CacheLimits{TTL: cfg.Auth.CacheTTL.Std(), MaxEntries: int(cfg.Auth.CacheSize)}); err != nil {
		return withCode(exitSoftware, err)
	}
	var notices *proxy.NATSNotices
	if *natsURL != "" {
		if notices, err = proxy.DialNATS(*natsURL, log.With("component", "nats")); err != nil {
			return withCode(exitTempFail, err)
		}
		defer notices.Close()
	}
	var route proxy.Router
	if cfg.Proxy.Route == "kv" {
		// The bucket is made with 3 copies in a cluster of 3 or more
		// (when no backend made it first).
		replicas := 1
		if len(notices.Conn().Servers()) >= 3 {
			replicas = 3
		}
		octx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		um, err := notice.OpenUserMap(octx, notices.Conn(), replicas)
		cancel()
		if err != nil {
			return withCode(exitTempFail, err)
		}
		route = proxy.UserMapRouter(um)
	}
	// The heap of sessions that went to sleep goes back to the OS once
	// their wave is over, as in serve.
	memory := memreturn.New()
	p, err := proxy.New(proxy.Config{
		Backends: cfg.Proxy.Backends,
		Route:    route,
		Secret:   cfg.Cluster.Secret,
		Auth:     users,
		TLS:      certs.Config(),
		Plain:    plainPolicy(cfg.Auth.Plaintext),
		Limits: imapserver.Limits{
			MaxLine:              int(cfg.Limits.MaxLine),
			MaxLiteral:           cfg.Limits.MaxLiteral,
			LoginTimeout:         cfg.Limits.LoginTimeout.Std(),
			IdleTimeout:          cfg.Limits.IdleTimeout.Std(),
			FailedLoginDelay:     durationOrOff(cfg.Limits.FailedLoginDelay.Std()),
			TLSHandshakeTimeout:  cfg.Limits.TLSHandshakeTimeout.Std(),
			MaxPreAuthPerAddr:    limitOrOff(cfg.Limits.MaxPreAuthPerAddr),
			LoginFailuresPerAddr: limitOrOff(cfg.Limits.LoginFailuresPerAddr),
			LoginFailuresPerUser: limitOrOff(cfg.Limits.LoginFailuresPerUser),
			LoginFailureRefill:   cfg.Limits.LoginFailureRefill.Std(),
			LoginPenaltyMax:      durationOrOff(cfg.Limits.LoginPenaltyMax.Std()),
		},
		IdleKeepalive: cfg.IMAP.IdleKeepalive.Std(),
		Notices:       noticesOrNil(notices),
		Slept:         memory.NoteSleep,
		Logger:        log,
	})
	if err != nil {
		return withCode(exitConfigError, err)
	}
	if notices != nil {
		notices.OnLost(p.Resync)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	memCtx, stopMem := context.WithCancel(ctx)
	defer stopMem()
	go memory.Run(memCtx, func() {})
	go followHeap(memCtx, cfg.Runtime, log)
	errc := make(chan error, 3)
	if cfg.Listen.Metrics != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg.MustRegister(p.Collectors()...)
		reg.MustRegister(loginCacheCollectors(users)...)
		ml, err := net.Listen("tcp", string(cfg.Listen.Metrics))
		if err != nil {
			p.Close()
			return withCode(exitTempFail, fmt.Errorf("listen: %w", err))
		}
		hs := &http.Server{Handler: metricsHandler(reg, *pprofFlag), ReadHeaderTimeout: 10 * time.Second}
		defer hs.Close()
		go func() {
			if err := hs.Serve(ml); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	for _, ln := range []struct {
		addr     config.Addr
		implicit bool
	}{{cfg.Listen.IMAP, false}, {cfg.Listen.IMAPS, true}} {
		if ln.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", string(ln.addr))
		if err != nil {
			p.Close()
			return withCode(exitTempFail, fmt.Errorf("listen: %w", err))
		}
		log.Info("listening", "addr", l.Addr().String(), "implicit_tls", ln.implicit, "backends", strings.Join(cfg.Proxy.Backends, ","))
		go func() { errc <- p.Serve(l, ln.implicit) }()
	}
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			break loop
		case <-hup:
			if err := certs.Reload(); err != nil {
				log.Error("reload certificate; keeping the old one", "err", err)
			}
			users.FlushLoginCache()
		case serveErr = <-errc:
			log.Error("listener failed", "err", serveErr)
			break loop
		}
	}
	p.Close()
	return withCode(exitTempFail, serveErr)
}

// noticesOrNil keeps a nil *NATSNotices from becoming a non-nil
// interface.
func noticesOrNil(n *proxy.NATSNotices) proxy.Notices {
	if n == nil {
		return nil
	}
	return n
}
