// Command cluster measures `dormouse proxy` in the deployment of issue 24
// on one machine: an embedded NATS cluster (-nats nodes), -backends
// `dormouse serve` processes with a [cluster] secret, -proxies `dormouse
// proxy` processes in front of them, and -clients IMAP clients spread
// over the proxies, each logged in, on INBOX, in IDLE, asleep at its
// proxy once the backend has handed it over.
//
// It reports:
//
//   - the connections the backends hold for the sleeping clients (goal 0,
//     from their dormouse_imap_connections gauges), and the proxies'
//     dormouse_proxy_sleepers;
//   - memory per sleeper at the proxies (Pss and Go heap in use, after
//     minus before, over the clients) against memory per sleeper in
//     `dormouse serve` (the same clients connected straight to a
//     backend, hibernated there);
//   - delivery → EXISTS through the proxy: -deliveries APPENDs, one at a
//     time, each to another sleeper's user on a connection of its own
//     through a proxy, timed from the APPEND sent to the EXISTS the
//     sleeper reads (the backend publishes the change on NATS, the proxy
//     wakes the sleeper on its backend with XRESUME);
//   - a NATS node stopped (-nats-kill): the node of proxy 0 and backend
//     0, while -nats-users users get one message each through proxy 1;
//     every sleeper of those users is checked against the store (its
//     EXISTS against STATUS MESSAGES): correct, missed or wrong, and the
//     APPEND → EXISTS latency during and after the failover;
//   - a backend killed (-kill): how many clients were answered, refused
//     cleanly (NO/BYE [UNAVAILABLE]) or hung, and whether refused users
//     log in again once it is back.
//
// The 10,000-client run is -clients 10000 (the process limit of 20,000
// open files holds it: the tool keeps one socket per client, each proxy
// one). Ports are taken from -port-base on (100 of them).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/dormouse/dormouse/bench/internal/procmem"
	"github.com/dormouse/dormouse/bench/internal/promtext"
	"github.com/dormouse/dormouse/bench/internal/stats"
	"github.com/dormouse/dormouse/internal/imaptest"
)

type config struct {
	bin            string
	dir            string
	portBase       int
	clients        int
	perUser        int
	proxies        int
	backends       int
	natsNodes      int
	deliveries     int
	concurrency    int
	hibernateAfter time.Duration
	settle         time.Duration
	serveBaseline  bool
	backendNATS    bool
	kill           bool
	natsKill       bool
	natsUsers      int
	natsWindow     time.Duration
	natsBound      time.Duration
	pprof          bool
	proxyLog       string
	backendLog     string
	hold           time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.bin, "bin", "", "the dormouse binary (required)")
	flag.StringVar(&c.dir, "dir", "/tmp/proxy/cluster-bench", "working folder (emptied first)")
	flag.IntVar(&c.portBase, "port-base", 36600, "first of 100 loopback ports to use")
	flag.IntVar(&c.clients, "clients", 1000, "clients asleep at the proxies (the lead's run: 10000)")
	flag.IntVar(&c.perUser, "per-user", 2, "clients (devices) per user")
	flag.IntVar(&c.proxies, "proxies", 2, "dormouse proxy processes")
	flag.IntVar(&c.backends, "backends", 2, "dormouse serve processes")
	flag.IntVar(&c.natsNodes, "nats", 3, "embedded NATS cluster nodes")
	flag.IntVar(&c.deliveries, "deliveries", 200, "APPENDs timed to the sleeper's EXISTS")
	flag.IntVar(&c.concurrency, "concurrency", 32, "clients connecting at a time")
	flag.DurationVar(&c.hibernateAfter, "hibernate-after", time.Second, "the backends' hibernate_after")
	flag.DurationVar(&c.settle, "settle", 3*time.Second, "wait after the last client sleeps before measuring")
	flag.BoolVar(&c.serveBaseline, "serve-baseline", true, "also measure the same clients asleep in dormouse serve itself")
	flag.BoolVar(&c.kill, "kill", true, "then SIGKILL a backend and have every client send DONE and NOOP: answered, refused (NO/BYE [UNAVAILABLE]) or hung")
	flag.BoolVar(&c.natsKill, "nats-kill", true, "before -kill, stop the NATS node of proxy 0 and backend 0 while -nats-users users get mail, and check every sleeper's EXISTS against the store")
	flag.IntVar(&c.natsUsers, "nats-users", 100, "users that get one message each while a NATS node is stopped")
	flag.DurationVar(&c.natsWindow, "nats-window", 4*time.Second, "the deliveries are spread over this long after the NATS node stops")
	flag.DurationVar(&c.natsBound, "nats-bound", 20*time.Second, "a sleeper without its EXISTS this long after the window missed it")
	flag.StringVar(&c.proxyLog, "proxy-log", "info", "the proxies' log level")
	flag.StringVar(&c.backendLog, "backend-log", "info", "the backends' log level")
	flag.BoolVar(&c.pprof, "pprof", false, "run the proxies with --pprof (profiles on their metrics address)")
	flag.DurationVar(&c.hold, "hold", 0, "keep everything running this long after the clients slept (to profile)")
	flag.BoolVar(&c.backendNATS, "backend-nats", true, "give the backends [cluster] nats (their notices); off for a serve without it")
	flag.Parse()
	if c.bin == "" {
		fmt.Fprintln(os.Stderr, "cluster: -bin is required (go build -o /tmp/proxy/dormouse ./cmd/dormouse)")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	r, err := run(context.Background(), c, log)
	if r != nil {
		json.NewEncoder(os.Stdout).Encode(r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// result is what the tool reports, as JSON.
type result struct {
	Clients  int `json:"clients"`
	Users    int `json:"users"`
	Proxies  int `json:"proxies"`
	Backends int `json:"backends"`
	NATS     int `json:"nats_nodes"`

	BackendConnsForSleepers float64 `json:"backend_connections_for_sleepers"`
	ProxySleepers           float64 `json:"proxy_sleepers"`

	ProxyPssPerSleeper     float64 `json:"proxy_pss_bytes_per_sleeper"`
	ProxyHeapPerSleeper    float64 `json:"proxy_heap_inuse_bytes_per_sleeper"`
	ProxyRuntimePerSleeper float64 `json:"proxy_runtime_held_bytes_per_sleeper"`
	ServePssPerSleeper     float64 `json:"serve_pss_bytes_per_sleeper,omitempty"`
	ServeHeapPerSleeper    float64 `json:"serve_heap_inuse_bytes_per_sleeper,omitempty"`
	ServeRuntimePerSleeper float64 `json:"serve_runtime_held_bytes_per_sleeper,omitempty"`

	DeliveryToExists stats.Dist `json:"delivery_to_exists"`

	NATSKill *natsKillResult `json:"nats_node_stopped,omitempty"`
	Kill     *killResult     `json:"backend_killed,omitempty"`
}

// killResult is what the clients got after a backend was killed.
type killResult struct {
	Answered    int        `json:"answered"`    // NOOP OK: their backend lives
	Unavailable int        `json:"unavailable"` // a clean NO or BYE [UNAVAILABLE]
	Other       int        `json:"other"`       // another answer or error
	Hung        int        `json:"hung"`        // nothing within 15 s
	Answer      stats.Dist `json:"answer"`      // time to the tagged answer or BYE
	// After the killed backend is started again, -deliveries of the
	// refused clients' users log in again through a proxy.
	ReloginOK     int `json:"relogin_ok"`
	ReloginFailed int `json:"relogin_failed"`
}

// killBackend kills b (SIGKILL) and has every client leave IDLE and send
// NOOP at once, then starts b again and logs some refused users in.
func killBackend(ctx context.Context, c config, conns []*client, b *proc, proxyAddr string) *killResult {
	b.cmd.Process.Kill()
	<-b.done
	k := &killResult{}
	var mu sync.Mutex
	var times []time.Duration
	var refused []int
	var wg sync.WaitGroup
	for _, cl := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := cl.conn
			conn.NetConn().SetDeadline(time.Now().Add(15 * time.Second))
			t0 := time.Now()
			conn.Write("DONE\r\nn NOOP\r\n")
			kind := "other"
			for {
				l, err := conn.ReadResponse()
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						kind = "hung"
					}
					break
				}
				if strings.HasPrefix(l, "n OK") {
					kind = "ok"
					break
				}
				if strings.Contains(l, "[UNAVAILABLE]") {
					kind = "unavailable"
					break
				}
			}
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			switch kind {
			case "ok":
				k.Answered++
			case "unavailable":
				k.Unavailable++
				refused = append(refused, cl.user)
			case "hung":
				k.Hung++
				slog.Warn("hung after the kill", "client", conn.NetConn().LocalAddr().String(), "user", cl.user)
			default:
				k.Other++
			}
			if kind != "hung" {
				times = append(times, d)
			}
		}()
	}
	wg.Wait()
	k.Answer = stats.New(times, k.Hung)
	// The backend again, on the same ports and data.
	nb := exec.CommandContext(ctx, b.cmd.Path, b.cmd.Args[1:]...)
	logf, err := os.Create(filepath.Join(c.dir, b.name+"-restarted.log"))
	if err != nil {
		return k
	}
	nb.Stdout, nb.Stderr = logf, logf
	if err := nb.Start(); err != nil {
		logf.Close()
		return k
	}
	b.cmd = nb
	b.done = make(chan struct{})
	go func() {
		nb.Wait()
		logf.Close()
		close(b.done)
	}()
	if waitFor(ctx, 30*time.Second, func() bool {
		cn, err := net.Dial("tcp", b.imap)
		if err == nil {
			cn.Close()
		}
		return err == nil
	}) != nil {
		return k
	}
	for i, u := range refused {
		if i >= c.deliveries {
			break
		}
		conn, _, err := imaptest.Dial(ctx, proxyAddr, imaptest.DialOptions{Timeout: 15 * time.Second})
		if err == nil {
			err = conn.Login(fmt.Sprintf("u%d", u), fmt.Sprintf("pw%d", u))
			conn.Close()
		}
		if err != nil {
			k.ReloginFailed++
		} else {
			k.ReloginOK++
		}
	}
	return k
}

// ports hands out the ports of the run.
type ports struct{ next int }

// addr returns the next port of the range that is free now: other
// connections' ephemeral ports share the range.
func (p *ports) addr() string {
	for {
		a := fmt.Sprintf("127.0.0.1:%d", p.next)
		p.next++
		if ln, err := net.Listen("tcp", a); err == nil {
			ln.Close()
			return a
		}
	}
}

// proc is a started dormouse process.
type proc struct {
	name          string
	cmd           *exec.Cmd
	imap, metrics string
	done          chan struct{} // closed when it exited
}

func run(ctx context.Context, c config, log *slog.Logger) (*result, error) {
	if err := os.RemoveAll(c.dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	pt := &ports{next: c.portBase}
	natsURLs, natsNodes, stopNATS, err := startNATS(c.natsNodes, pt)
	if err != nil {
		return nil, err
	}
	defer stopNATS()

	users := (c.clients + c.perUser - 1) / c.perUser
	var passwd strings.Builder
	for i := range users {
		fmt.Fprintf(&passwd, "u%d:{PLAIN}pw%d\n", i, i)
	}
	const secret = "bench-cluster-secret-0123456789"
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			<-p.done
		}
	}()
	start := func(name string, args ...string) (*proc, error) {
		p := &proc{name: name}
		p.cmd = exec.CommandContext(ctx, c.bin, args...)
		logf, err := os.Create(filepath.Join(c.dir, name+".log"))
		if err != nil {
			return nil, err
		}
		p.cmd.Stdout, p.cmd.Stderr = logf, logf
		if err := p.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		p.done = make(chan struct{})
		go func() {
			p.cmd.Wait()
			logf.Close()
			close(p.done)
		}()
		procs = append(procs, p)
		return p, nil
	}
	var backends []*proc
	for i := range c.backends {
		data := filepath.Join(c.dir, fmt.Sprintf("backend%d", i))
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, err
		}
		conf := fmt.Sprintf("[cluster]\nsecret = %q\n", secret)
		if c.backendNATS {
			conf += fmt.Sprintf("nats = %q\nnode = \"b%d\"\n", natsURLs[i%len(natsURLs)], i)
		}
		conf += fmt.Sprintf("[imap]\nhibernate_after = %q\n[limits]\nmax_connections_per_user = 0\nmax_connections_per_user_addr = 0\nmax_preauth_per_addr = 0\n[log]\nlevel = %q\n", c.hibernateAfter.String(), c.backendLog)
		if err := writeData(data, conf, passwd.String()); err != nil {
			return nil, err
		}
		p, err := startListening(ctx, start, pt, fmt.Sprintf("backend%d", i), func(imap, metrics string) []string {
			return []string{"serve", "--data", data, "--imap", imap, "--imaps", "", "--lmtp", "", "--metrics", metrics}
		})
		if err != nil {
			return nil, err
		}
		backends = append(backends, p)
	}
	var backendAddrs []string
	for _, b := range backends {
		backendAddrs = append(backendAddrs, b.imap)
	}
	var proxies []*proc
	for i := range c.proxies {
		data := filepath.Join(c.dir, fmt.Sprintf("proxy%d", i))
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, err
		}
		conf := fmt.Sprintf("[cluster]\nsecret = %q\n[limits]\nmax_preauth_per_addr = 0\n[log]\nlevel = %q\n", secret, c.proxyLog)
		if err := writeData(data, conf, passwd.String()); err != nil {
			return nil, err
		}
		p, err := startListening(ctx, start, pt, fmt.Sprintf("proxy%d", i), func(imap, metrics string) []string {
			return []string{"proxy", "--data", data, "--imap", imap, "--imaps", "", "--metrics", metrics,
				"--backends", strings.Join(backendAddrs, ","), "--nats", natsURLs[i%len(natsURLs)], "--pprof=" + fmt.Sprint(c.pprof)}
		})
		if err != nil {
			return nil, err
		}
		proxies = append(proxies, p)
	}
	r := &result{Clients: c.clients, Users: users, Proxies: c.proxies, Backends: c.backends, NATS: c.natsNodes}

	before := measure(proxies)
	log.Info("connecting", "clients", c.clients)
	conns, err := connectIdle(ctx, c, func(i int) string { return proxies[i%len(proxies)].imap })
	defer closeAll(conns)
	if err != nil {
		return r, err
	}
	log.Info("waiting for the backends to hand every client over")
	if err := waitFor(ctx, 5*time.Minute, func() bool {
		r.ProxySleepers = sum(proxies, "dormouse_proxy_sleepers")
		return r.ProxySleepers == float64(c.clients)
	}); err != nil {
		return r, fmt.Errorf("%v of %d asleep at the proxies: %w", r.ProxySleepers, c.clients, err)
	}
	time.Sleep(c.settle)
	r.BackendConnsForSleepers = sum(backends, `dormouse_imap_connections{state="active"}`) +
		sum(backends, `dormouse_imap_connections{state="idling"}`) + sum(backends, `dormouse_imap_connections{state="hibernated"}`)
	after := measure(proxies)
	r.ProxyPssPerSleeper = (after.pss - before.pss) / float64(c.clients)
	r.ProxyHeapPerSleeper = (after.heap - before.heap) / float64(c.clients)
	r.ProxyRuntimePerSleeper = (after.runtime - before.runtime) / float64(c.clients)
	log.Info("asleep", "proxy_pss_per_sleeper", r.ProxyPssPerSleeper, "backend_conns", r.BackendConnsForSleepers)
	if c.hold > 0 {
		log.Info("holding", "for", c.hold, "proxy0_metrics", proxies[0].metrics)
		time.Sleep(c.hold)
	}

	r.DeliveryToExists = deliveries(ctx, c, conns, proxies[0].imap, log)

	if c.natsKill && len(natsNodes) > 1 {
		// Node 0 is proxy 0's and backend 0's; proxy 1 is on node 1.
		r.NATSKill = killNATS(ctx, c, conns, natsNodes[0], proxies[len(proxies)-1].imap, proxies, log)
	}

	if c.kill {
		log.Info("killing a backend; every client speaks")
		r.Kill = killBackend(ctx, c, conns, backends[0], proxies[0].imap)
	}

	if c.serveBaseline {
		closeAll(conns)
		conns = nil
		// A backend of its own, fresh, on the same users, without a
		// proxy: its clients hibernate in serve itself.
		data := filepath.Join(c.dir, "baseline")
		if err := os.MkdirAll(data, 0o700); err != nil {
			return r, err
		}
		conf := fmt.Sprintf("[imap]\nhibernate_after = %q\n[limits]\nmax_connections_per_user = 0\nmax_connections_per_user_addr = 0\nmax_preauth_per_addr = 0\n", c.hibernateAfter.String())
		if err := writeData(data, conf, passwd.String()); err != nil {
			return r, err
		}
		b, err := startListening(ctx, start, pt, "baseline", func(imap, metrics string) []string {
			return []string{"serve", "--data", data, "--imap", imap, "--imaps", "", "--lmtp", "", "--metrics", metrics}
		})
		if err != nil {
			return r, err
		}
		log.Info("baseline: the same clients asleep in dormouse serve")
		time.Sleep(c.settle)
		sb := measure([]*proc{b})
		direct, err := connectIdle(ctx, c, func(int) string { return b.imap })
		defer closeAll(direct)
		if err != nil {
			return r, err
		}
		if err := waitFor(ctx, 5*time.Minute, func() bool {
			return sum([]*proc{b}, `dormouse_imap_connections{state="hibernated"}`) == float64(c.clients)
		}); err != nil {
			return r, fmt.Errorf("serve baseline: %w", err)
		}
		time.Sleep(c.settle)
		sa := measure([]*proc{b})
		r.ServePssPerSleeper = (sa.pss - sb.pss) / float64(c.clients)
		r.ServeHeapPerSleeper = (sa.heap - sb.heap) / float64(c.clients)
		r.ServeRuntimePerSleeper = (sa.runtime - sb.runtime) / float64(c.clients)
	}
	return r, nil
}

// writeData writes a data folder's configuration and passwd-file.
func writeData(dir, conf, passwd string) error {
	if err := os.WriteFile(filepath.Join(dir, "dormouse.toml"), []byte(conf), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd), 0o600)
}

// startNATS runs an embedded NATS cluster of n nodes, each a route to
// the others, and returns their client URLs and servers.
func startNATS(n int, pt *ports) ([]string, []*server.Server, func(), error) {
	var client, routes []string
	for range n {
		client = append(client, pt.addr())
		routes = append(routes, pt.addr())
	}
	var servers []*server.Server
	stop := func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}
	var urls []string
	for i := range n {
		host, port := splitAddr(client[i])
		rhost, rport := splitAddr(routes[i])
		opts := &server.Options{ServerName: fmt.Sprintf("n%d", i), Host: host, Port: port, NoLog: os.Getenv("NATS_LOG") == "", NoSigs: true}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "dormouse", Host: rhost, Port: rport}
			for j := range n {
				if j != i {
					opts.Routes = append(opts.Routes, server.RoutesFromStr("nats://"+routes[j])...)
				}
			}
		}
		s, err := server.NewServer(opts)
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		go s.Start()
		servers = append(servers, s)
		urls = append(urls, "nats://"+client[i])
	}
	for _, s := range servers {
		if !s.ReadyForConnections(60 * time.Second) {
			stop()
			return nil, nil, nil, errors.New("nats not ready")
		}
	}
	return urls, servers, stop, nil
}

func splitAddr(a string) (string, int) {
	h, p, _ := net.SplitHostPort(a)
	var n int
	fmt.Sscan(p, &n)
	return h, n
}

// startListening starts a process on two new ports (IMAP, metrics) and
// waits until it listens; a port taken meanwhile (the ephemeral ports of
// other connections share the range) makes it try again on others.
func startListening(ctx context.Context, start func(string, ...string) (*proc, error), pt *ports, name string, args func(imap, metrics string) []string) (*proc, error) {
	for attempt := 0; ; attempt++ {
		imap, metrics := pt.addr(), pt.addr()
		p, err := start(name, args(imap, metrics)...)
		if err != nil {
			return nil, err
		}
		p.imap, p.metrics = imap, metrics
		exited := p.done
		err = waitFor(ctx, 30*time.Second, func() bool {
			select {
			case <-exited:
				return true
			default:
			}
			c, err := net.Dial("tcp", imap)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		select {
		case <-exited:
			if attempt < 5 {
				continue
			}
			return nil, fmt.Errorf("%s exited (see its log)", name)
		default:
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return p, nil
	}
}

func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// client is one connection asleep in IDLE.
type client struct {
	user int
	conn *imaptest.Conn
}

// connectIdle opens c.clients connections (LOGIN, SELECT INBOX, IDLE),
// the i'th to addr(i), user i / perUser.
func connectIdle(ctx context.Context, c config, addr func(int) string) ([]*client, error) {
	conns := make([]*client, c.clients)
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= c.clients {
					return
				}
				cl, err := connectOne(ctx, addr(i), i/c.perUser)
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("client %d: %w", i, err)
				}
				conns[i] = cl
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return conns, first
}

func connectOne(ctx context.Context, addr string, user int) (*client, error) {
	conn, _, err := imaptest.Dial(ctx, addr, imaptest.DialOptions{Timeout: time.Minute, ReadBuffer: 512})
	if err != nil {
		return nil, err
	}
	if err := conn.Login(fmt.Sprintf("u%d", user), fmt.Sprintf("pw%d", user)); err != nil {
		conn.Close()
		return nil, err
	}
	if st, err := conn.Command("SELECT INBOX", nil); err != nil || !imaptest.IsOK(st) {
		conn.Close()
		return nil, fmt.Errorf("select: %s %v", st, err)
	}
	if err := conn.Send("i IDLE"); err != nil {
		conn.Close()
		return nil, err
	}
	if l, err := conn.ReadResponse(); err != nil || !strings.HasPrefix(l, "+") {
		conn.Close()
		return nil, fmt.Errorf("idle: %q %v", l, err)
	}
	conn.Timeout = 0
	return &client{user: user, conn: conn}, nil
}

func closeAll(cs []*client) {
	for _, c := range cs {
		if c != nil {
			c.conn.Close()
		}
	}
}

// deliveries times APPEND → EXISTS for c.deliveries sleepers of
// distinct users, one at a time, the APPEND on a connection of its own
// through proxy addr.
func deliveries(ctx context.Context, c config, conns []*client, addr string, log *slog.Logger) stats.Dist {
	var samples []time.Duration
	timeouts := 0
	msg := []byte("From: bench@example.org\r\nSubject: cluster\r\n\r\nhello\r\n")
	for k := 0; k < c.deliveries && k*c.perUser < len(conns); k++ {
		sl := conns[k*c.perUser]
		d, _, err := imaptest.Dial(ctx, addr, imaptest.DialOptions{Timeout: time.Minute})
		if err != nil {
			log.Warn("deliverer", "err", err)
			timeouts++
			continue
		}
		if err := d.Login(fmt.Sprintf("u%d", sl.user), fmt.Sprintf("pw%d", sl.user)); err != nil {
			d.Close()
			timeouts++
			continue
		}
		got := make(chan time.Time, 1)
		go func() {
			sl.conn.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				l, err := sl.conn.ReadResponse()
				if err != nil {
					close(got)
					return
				}
				if strings.HasSuffix(l, " EXISTS") {
					got <- time.Now()
					return
				}
			}
		}()
		t0 := time.Now()
		if _, err := d.Append("INBOX", msg); err != nil {
			log.Warn("append", "err", err)
		}
		if t1, ok := <-got; ok {
			samples = append(samples, t1.Sub(t0))
		} else {
			timeouts++
		}
		d.Close()
	}
	return stats.New(samples, timeouts)
}

// mem is the memory of a set of processes.
type mem struct{ pss, heap, runtime float64 }

func measure(ps []*proc) mem {
	runtime.GC()
	var m mem
	for _, p := range ps {
		if t, err := procmem.Measure(p.cmd.Process.Pid); err == nil {
			m.pss += float64(t.PssKiB) * 1024
		}
		m.heap += metric(p, "go_memstats_heap_inuse_bytes")
		// What the runtime holds from the OS and has not given back.
		m.runtime += metric(p, "go_memstats_sys_bytes") - metric(p, "go_memstats_heap_released_bytes")
	}
	return m
}

func sum(ps []*proc, series string) float64 {
	s := 0.0
	for _, p := range ps {
		s += metric(p, series)
	}
	return s
}

// metric reads one series from p's /metrics (0 when missing).
func metric(p *proc, series string) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := promtext.Fetch(ctx, http.DefaultClient, "http://"+p.metrics+"/metrics")
	if err != nil {
		return 0
	}
	return s[series]
}
