package proxy

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/notice"
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

// publishNotices publishes every change of the backend's store as a
// notice on NATS, as a backend with [cluster] nats does. Publishing
// without a reconnect buffer: a notice made while NATS is away is lost,
// as core NATS may lose it.
func publishNotices(t *testing.T, srv *testserver.Server, url string) {
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

// startNoticed starts NATS, a backend publishing its changes and a
// proxy hearing them.
func startNoticed(t *testing.T) (*testProxy, *testserver.Server, *server.Server) {
	t.Helper()
	ns := startNATS(t, 0)
	srv := startBackend(t, 300*time.Millisecond)
	publishNotices(t, srv, ns.ClientURL())
	nn, err := DialNATS(ns.ClientURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nn.Close)
	p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, func(c *Config) { c.Notices = nn })
	nn.OnLost(p.Resync)
	return p, srv, ns
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
	p, srv, _ := startNoticed(t)
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
	p, srv, ns := startNoticed(t)
	c := p.dial(t)
	c.Login(srv.Alice.Name, srv.Alice.Password)
	c.MustOK("SELECT INBOX")
	c.Run(`
C: i1 IDLE
S: + idling
`)
	waitAsleep(t, p, srv, 1)
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
