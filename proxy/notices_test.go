package proxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/notice"
	"github.com/dormouse/dormouse/notice/natstest"
)

// startNATS runs an embedded NATS server on 127.0.0.1 (port 0: any;
// else that one, to restart it in place) until the test ends.
func startNATS(t *testing.T, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// publishNotices publishes every change of the backend's store on NATS
// with notice.Publisher, as a backend with [cluster] nats does.
func publishNotices(t *testing.T, srv *testserver.Server, url string) {
	t.Helper()
	pub, err := notice.NewPublisher(notice.PublisherConfig{URLs: url, Node: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	cancel := srv.Store.Watch("", "", pub.Notify)
	t.Cleanup(func() {
		cancel()
		pub.Close()
	})
}

// publishLossy publishes every change of the backend's store as a notice
// on NATS without a reconnect buffer and without a resync message: a
// notice made while NATS is away is lost, as core NATS may lose one that
// was in flight on a node that died, and nobody says so.
func publishLossy(t *testing.T, srv *testserver.Server, url string) {
	t.Helper()
	nc, err := nats.Connect(url, nats.ReconnectBufSize(-1), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	cancel := srv.Store.Watch("", "", func(ev mailstore.Event) {
		n := notice.FromEvent(ev, srv.Addr)
		data, err := n.MarshalBinary()
		if err == nil {
			nc.Publish(notice.Subject(n.User, n.Mailbox), data)
		}
	})
	t.Cleanup(func() {
		cancel()
		nc.Close()
	})
}

// startNoticed starts a backend whose changes publish runs on the NATS
// servers at url, and a proxy hearing them there (edit, when set,
// changes its configuration).
func startNoticed(t *testing.T, url string, publish func(*testing.T, *testserver.Server, string), edit func(*Config, *NATSNotices)) (*testProxy, *testserver.Server) {
	t.Helper()
	srv := startBackend(t, 300*time.Millisecond)
	if publish != nil {
		publish(t, srv, url)
	}
	nn, err := DialNATS(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nn.Close)
	p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, func(c *Config) {
		c.Notices = nn
		if edit != nil {
			edit(c, nn)
		}
	})
	nn.OnLost(p.Resync)
	return p, srv
}

// idleAsleep logs a client of alice in through p, selects INBOX, starts
// IDLE with tag i1 and waits until n clients sleep at p.
func idleAsleep(t *testing.T, p *testProxy, srv *testserver.Server, n int) *imaptest.Client {
	t.Helper()
	c := p.dial(t)
	c.Login(srv.Alice.Name, srv.Alice.Password)
	c.MustOK("SELECT INBOX")
	c.Run(`
C: i1 IDLE
S: + idling
`)
	waitAsleep(t, p, srv, n)
	return c
}

func (p *testProxy) wakes(t *testing.T, reason string) float64 {
	return testserver.Gather(t, p.Proxy)["dormouse_proxy_wakes_total,reason="+reason]
}

// deliver adds a message to alice's INBOX on the backend, as a delivery
// does (an APPEND on a connection of its own).
func deliver(t *testing.T, srv *testserver.Server) {
	t.Helper()
	d := srv.Login(t, srv.Alice)
	if st := d.Append("INBOX", testMessage); !imaptest.IsOK(st) {
		t.Fatalf("APPEND: %s", st)
	}
	d.Close()
}

// TestNoticeWakesIdleSleeper: a delivery to the INBOX of a client asleep
// at the proxy in IDLE reaches it as EXISTS through a NATS notice (the
// proxy resumes it on the backend, which says what changed); a quiet
// sleeper of the same user is not woken (its next command learns).
func TestNoticeWakesIdleSleeper(t *testing.T) {
	p, srv := startNoticed(t, natstest.StartCluster(t, 1).URLs(), publishNotices, nil)
	quiet := p.dial(t)
	quiet.Login(srv.Alice.Name, srv.Alice.Password)
	quiet.MustOK("SELECT INBOX")
	idler := p.dial(t)
	idler.Login(srv.Alice.Name, srv.Alice.Password)
	idler.MustOK("SELECT INBOX")
	idler.Run(`
C: i1 IDLE
S: + idling
`)
	waitAsleep(t, p, srv, 2)
	deliver(t, srv)
	idler.Run(`
S: * 1 EXISTS
S: * 1 RECENT
`)
	if n := p.wakes(t, wakeNotice); n != 1 {
		t.Errorf("%v wakes by notice, want 1 (the IDLE sleeper only)", n)
	}
	waitAsleep(t, p, srv, 2)
	idler.Run(`
C: DONE
S: i1 OK IDLE terminated
`)
	// \Recent went to the session that heard of the message first.
	quiet.Run(`
C: n1 NOOP
S: * 1 EXISTS
S: * 0 RECENT
S: n1 OK NOOP completed
`)
}

// TestNoticeResyncAfterNATSRestart: a delivery made while NATS is down
// loses its notice; when the proxy reconnects it resumes every IDLE
// sleeper once, so the client still hears EXISTS.
func TestNoticeResyncAfterNATSRestart(t *testing.T) {
	ns := startNATS(t, 0)
	p, srv := startNoticed(t, ns.ClientURL(), publishLossy, nil)
	c := idleAsleep(t, p, srv, 1)
	port := ns.Addr().(*net.TCPAddr).Port
	ns.Shutdown()
	ns.WaitForShutdown()
	seen := make(chan struct{}, 1)
	cancel := srv.Store.Watch(srv.Alice.Name, "INBOX", func(mailstore.Event) {
		select {
		case seen <- struct{}{}:
		default:
		}
	})
	defer cancel()
	deliver(t, srv)
	<-seen // its notice went nowhere
	startNATS(t, port)
	c.Run(`
S: * 1 EXISTS
S: * 1 RECENT
`)
	if n := p.wakes(t, wakeResync); n < 1 {
		t.Errorf("%v resync wakes, want at least 1", n)
	}
	if n := p.wakes(t, wakeNotice); n != 0 {
		t.Errorf("%v wakes by notice: the lost notice came after all", n)
	}
}

// TestNoticeBackendResync: a backend that reconnected to NATS says so on
// notice.ResyncSubject (its notices in flight may be lost); the proxy
// resumes its IDLE sleepers, which hear what changed meanwhile. Here the
// backend publishes nothing else: the EXISTS comes from the resync.
func TestNoticeBackendResync(t *testing.T) {
	cl := natstest.StartCluster(t, 1)
	p, srv := startNoticed(t, cl.URLs(), nil, nil)
	c := idleAsleep(t, p, srv, 1)
	deliver(t, srv)
	nc, err := nats.Connect(cl.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish(notice.ResyncSubject, []byte("b1")); err != nil {
		t.Fatal(err)
	}
	c.Run(`
S: * 1 EXISTS
S: * 1 RECENT
`)
	if n := p.wakes(t, wakeResync); n != 1 {
		t.Errorf("%v resync wakes, want 1", n)
	}
}

// TestNATSNodeKilled: in a 3-node NATS cluster, the node the proxy is
// connected to dies; the proxy reconnects to another, resumes its IDLE
// sleepers once, and a delivery made meanwhile (published through
// another node) reaches the sleeping client: nothing is lost.
func TestNATSNodeKilled(t *testing.T) {
	cl := natstest.StartCluster(t, 3)
	urls := strings.Split(cl.URLs(), ",")
	srv := startBackend(t, 300*time.Millisecond)
	publishNotices(t, srv, urls[1])
	nn, err := DialNATS(urls[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nn.Close)
	p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, func(c *Config) { c.Notices = nn })
	nn.OnLost(p.Resync)
	c := idleAsleep(t, p, srv, 1)
	cl.Kill(0)
	deliver(t, srv)
	c.Run(`
S: * 1 EXISTS
S: * 1 RECENT
`)
	testserver.WaitFor(t, "the proxy's resync after its NATS node died", func() bool {
		return p.wakes(t, wakeResync) >= 1
	})
}

// TestRouteKV: with the user map in JetStream KV (route = "kv") a user
// goes to the backend the map names, not the hash's, and moving the user
// is one Set: the next login lands on the new backend.
func TestRouteKV(t *testing.T) {
	cl := natstest.StartCluster(t, 1)
	b1 := startBackend(t, time.Hour)
	b2 := startBackend(t, time.Hour) // has an alice too
	nc, err := nats.Connect(cl.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	um, err := notice.OpenUserMap(context.Background(), nc, 1)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, b1.PasswdFile, []string{b1.Addr, b2.Addr}, func(c *Config) { c.Route = UserMapRouter(um) })
	for _, to := range []*testserver.Server{b2, b1, b2} {
		if err := um.Set(context.Background(), b1.Alice.Name, to.Addr); err != nil {
			t.Fatal(err)
		}
		c := p.dial(t)
		c.Login(b1.Alice.Name, b1.Alice.Password)
		other := b1
		if to == b1 {
			other = b2
		}
		if backendConns(t, to) != 1 || backendConns(t, other) != 0 {
			t.Fatalf("mapped to %s: backends hold %v (mapped) and %v (other)", to.Addr, backendConns(t, to), backendConns(t, other))
		}
		c.Close()
		testserver.WaitFor(t, "the hop closed", func() bool { return backendConns(t, to) == 0 })
	}
	m := testserver.Gather(t, p.Proxy)
	if m["dormouse_proxy_routes_total,source=kv"] != 3 || m["dormouse_proxy_hops_total,backend="+b2.Addr+",command=xproxy"] != 2 {
		t.Errorf("routing metrics: %v", m)
	}
}

// TestQuietSleeperStartsIdle: a sleeper between commands is not woken by
// a delivery, but the IDLE it starts next hears of it at once, as an
// awake session's IDLE says what changed first: the notice heard since it
// went quiet makes the IDLE wake it on the backend instead of being
// answered asleep. A DONE and a new IDLE with nothing new are answered
// asleep.
func TestQuietSleeperStartsIdle(t *testing.T) {
	p, srv := startNoticed(t, natstest.StartCluster(t, 1).URLs(), publishNotices, nil)
	c := p.dial(t)
	c.Login(srv.Alice.Name, srv.Alice.Password)
	c.MustOK("SELECT INBOX")
	waitAsleep(t, p, srv, 1)
	deliver(t, srv)
	testserver.WaitFor(t, "the notice at the proxy", func() bool {
		return testserver.Gather(t, p.Proxy)["dormouse_proxy_notices_total"] >= 1
	})
	c.Run(`
C: i1 IDLE
S: + idling
S: * 1 EXISTS
S: * 1 RECENT
`)
	waitAsleep(t, p, srv, 1)
	wakes := p.wakes(t, wakeClient)
	c.Run(`
C: DONE
S: i1 OK IDLE terminated
C: i2 IDLE
S: + idling
C: DONE
S: i2 OK IDLE terminated
`)
	if n := p.wakes(t, wakeClient); n != wakes {
		t.Errorf("DONE and IDLE with nothing new woke the session (%v wakes, were %v)", n, wakes)
	}
}

// TestNoticeWhileSleeperOwned: a notice heard while another owner takes
// its sleeper out of the table (here the keepalive ticker: its client's
// DONE does the same) still wakes the sleeper. The notice's walk of the
// table cannot find it; its owner's re-arm must see the notice instead.
// Before the fix the notice was counted before the walk took the table's
// lock, so an owner that took the sleeper in between recorded a count that
// already held the notice, and re-armed it asleep: the EXISTS never came.
func TestNoticeWhileSleeperOwned(t *testing.T) {
	srv := startBackend(t, 300*time.Millisecond)
	p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, nil)
	c := idleAsleep(t, p, srv, 1)
	heard := make(chan notice.Notice, 4)
	cancel := srv.Store.Watch(srv.Alice.Name, "INBOX", func(ev mailstore.Event) {
		heard <- notice.FromEvent(ev, srv.Addr)
	})
	defer cancel()
	deliver(t, srv)
	n := <-heard

	h := p.sleep
	h.mu.Lock()
	seq := p.users.seq(srv.Alice.Name)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.onNotice(n)
	}()
	// Until the notice is counted, or (the count moving only with the
	// table's lock) a while.
	testserver.Eventually(2*time.Second, func() bool { return p.users.seq(srv.Alice.Name) != seq })
	// As the keepalive ticker takes a due sleeper.
	toks := h.table.AppendTokens(nil)
	if len(toks) != 1 {
		h.mu.Unlock()
		t.Fatalf("%d sleepers in the table, want 1", len(toks))
	}
	s := h.own(toks[0])
	h.mu.Unlock()
	if s == nil {
		t.Fatal("the sleeper could not be taken")
	}
	<-done
	// As the ticker re-arms it after its "* OK Still here".
	if err := h.arm(s); errors.Is(err, errMissed) {
		h.wakeOwned([]*sleeper{s}, wakeNotice)
	} else if err != nil {
		t.Fatal(err)
	}
	c.Run(`
S: * 1 EXISTS
S: * 1 RECENT
`)
}
