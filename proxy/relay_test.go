package proxy

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// startBackend starts a backend that accepts the tests' proxies and
// hands a quiet session over after hibernateAfter.
func startBackend(t *testing.T, hibernateAfter time.Duration) *testserver.Server {
	t.Helper()
	return testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.ProxySecret = testSecret
		c.HibernateAfter = hibernateAfter
	}))
}

// backendConns is how many connections the backend holds, in every
// state.
func backendConns(t *testing.T, srv *testserver.Server) float64 {
	m := testserver.Gather(t, srv.Metrics)
	n := 0.0
	for _, state := range []string{"active", "idling", "hibernated"} {
		n += m["dormouse_imap_connections,state="+state]
	}
	return n
}

// waitAsleep waits until n clients sleep at the proxy and the backend
// holds no connection.
func waitAsleep(t *testing.T, p *testProxy, srv *testserver.Server, n int) {
	t.Helper()
	testserver.WaitFor(t, "clients asleep at the proxy", func() bool {
		return p.Sleepers() == n && backendConns(t, srv) == 0
	})
}

const testMessage = "From: bob@example.org\r\nSubject: hello\r\n\r\nHello Alice\r\n"

// TestRelayAndSleep drives a session through the proxy over each
// transport: login (the backend's capabilities), SELECT, FETCH of a
// body literal, APPEND with a synchronising literal, IDLE; the backend
// hands the quiet session over and the client sleeps at the proxy with
// no backend connection; DONE and a new IDLE are answered asleep; a
// command wakes it on the backend (XRESUME) and the session goes on
// where it was.
func TestRelayAndSleep(t *testing.T) {
	for _, tc := range []struct {
		name          string
		tls, starttls bool
		compress      bool
	}{
		{name: "plain"},
		{name: "starttls", starttls: true},
		{name: "imaps", tls: true},
		{name: "compress", compress: true},
		{name: "imaps+compress", tls: true, compress: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startBackend(t, 300*time.Millisecond)
			p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, nil)
			srv.Deliver(t, srv.Alice.Name, testMessage)
			var c *imaptest.Client
			switch {
			case tc.tls:
				c = p.dialTLS(t)
			default:
				c = p.dial(t)
			}
			if tc.starttls {
				c.MustOK("STARTTLS")
				c.StartTLS(p.ClientTLS)
			}
			lines := c.MustOK("LOGIN " + srv.Alice.Name + " " + imaptest.Quote(srv.Alice.Password))
			if last := lines[len(lines)-1]; !strings.Contains(last, "OK [CAPABILITY ") || !strings.Contains(last, "COMPRESS=DEFLATE") {
				t.Fatalf("LOGIN answered %q, want the backend's capabilities", last)
			}
			if tc.compress {
				c.MustOK("COMPRESS DEFLATE")
				c.Compress()
			}
			if lines := c.MustOK("SELECT INBOX"); !strings.Contains(strings.Join(lines, "\n"), "* 1 EXISTS") {
				t.Fatalf("SELECT: %q", lines)
			}
			if n := backendConns(t, srv); n != 1 {
				t.Fatalf("backend holds %v connections for an awake client, want 1", n)
			}
			c.Run(`
C: f1 FETCH 1 (BODY.PEEK[TEXT])
S: * 1 FETCH (BODY[TEXT] {13}\r\nHello Alice\r\n)
S: f1 OK FETCH completed
`)
			if st := c.Append("INBOX", testMessage); !imaptest.IsOK(st) {
				t.Fatalf("APPEND: %s", st)
			}
			c.Run(`
C: i1 IDLE
S: + idling
`)
			waitAsleep(t, p, srv, 1)
			resumes := testserver.Gather(t, srv.Metrics)
			c.Run(`
C: DONE
S: i1 OK IDLE terminated
C: i2 IDLE
S: + idling
C: DONE
S: i2 OK IDLE terminated
`)
			if n := p.wakes(t, wakeClient); n != 0 || backendConns(t, srv) != 0 {
				t.Fatalf("DONE and IDLE woke the session: %v wakes, backend holds %v", n, backendConns(t, srv))
			}
			waitAsleep(t, p, srv, 1)
			c.Run(`
C: f2 FETCH 1:* (UID BODY.PEEK[TEXT])
S: * 1 FETCH (UID 1 BODY[TEXT] {13}\r\nHello Alice\r\n)
S: * 2 FETCH (UID 2 BODY[TEXT] {13}\r\nHello Alice\r\n)
S: f2 OK FETCH completed
`)
			after := testserver.Gather(t, srv.Metrics)
			if after["dormouse_imap_proxy_resumes_total,state=between"] <= resumes["dormouse_imap_proxy_resumes_total,state=between"] {
				t.Errorf("FETCH after the sleep did not resume on the backend: %v", after)
			}
			c.Run(`
C: l1 LOGOUT
S~ \* BYE .*
S: l1 OK LOGOUT completed
`)
			if !tc.compress { // a compressed stream just stops, as serve's
				if rest := c.ExpectClosed(); len(rest) > 0 {
					t.Errorf("after LOGOUT: %q", rest)
				}
			}
		})
	}
}

// TestBackendGone: a backend that is killed gives the client at once a
// tagged NO [UNAVAILABLE] for the command that wakes it and a BYE
// [UNAVAILABLE], asleep or awake, never a hang.
func TestBackendGone(t *testing.T) {
	srv := startBackend(t, 300*time.Millisecond)
	p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, nil)
	sleeper := p.dial(t)
	sleeper.Login(srv.Alice.Name, srv.Alice.Password)
	sleeper.MustOK("SELECT INBOX")
	sleeper.Run(`
C: i1 IDLE
S: + idling
`)
	waitAsleep(t, p, srv, 1)
	awake := p.dial(t)
	awake.Login(srv.Alice.Name, srv.Alice.Password)
	srv.Close()
	start := time.Now()
	awake.WaitFor(`^\* BYE`)
	awake.ExpectClosed()
	sleeper.Run(`
C: DONE
S: i1 OK IDLE terminated
C: n1 NOOP
S: n1 NO [UNAVAILABLE] Backend unavailable
S: * BYE [UNAVAILABLE] Backend unavailable, try again later
`)
	sleeper.ExpectClosed()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("UNAVAILABLE after %v", d)
	}
}

// TestRelayBounds: after login the proxy holds the server's line and
// literal bounds itself: a line over max_line and a literal over
// max_literal end the connection with a reason, before the backend has
// to take them.
func TestRelayBounds(t *testing.T) {
	srv := startBackend(t, time.Hour)
	p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, nil)
	c := p.dial(t)
	c.Login(srv.Alice.Name, srv.Alice.Password)
	c.Send("a1 SEARCH SUBJECT " + strings.Repeat("x", 9<<10))
	c.Expect(`* BYE [TOOBIG] Line too long`)
	c.ExpectClosed()

	c = p.dial(t)
	c.Login(srv.Alice.Name, srv.Alice.Password)
	c.Send("a2 APPEND INBOX {2000000+}")
	c.Run(`
S: a2 BAD [TOOBIG] Literal too large
S: * BYE [TOOBIG] Literal too large
`)
	c.ExpectClosed()
}

// TestKeepaliveAsleep: an IDLE sleeper at the proxy gets "* OK Still
// here" every idle_keepalive from the proxy itself, sealed with its TLS
// 1.3 record state on IMAPS and compressed after COMPRESS, without a
// wake; the session goes on after it.
func TestKeepaliveAsleep(t *testing.T) {
	for _, tc := range []struct {
		name          string
		tls, compress bool
	}{{name: "plain"}, {name: "imaps", tls: true}, {name: "imaps+compress", tls: true, compress: true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startBackend(t, 300*time.Millisecond)
			p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, func(c *Config) { c.IdleKeepalive = time.Second })
			c := p.dial(t)
			if tc.tls {
				c = p.dialTLS(t)
			}
			c.Login(srv.Alice.Name, srv.Alice.Password)
			if tc.compress {
				c.MustOK("COMPRESS DEFLATE")
				c.Compress()
			}
			c.MustOK("SELECT INBOX")
			c.Run(`
C: i1 IDLE
S: + idling
`)
			waitAsleep(t, p, srv, 1)
			c.Expect("* OK Still here", "* OK Still here")
			c.Send("DONE")
			c.WaitFor(`^i1 OK IDLE terminated$`)
			c.MustOK("NOOP")
			if n := p.wakes(t, wakeClient); n != 1 {
				t.Errorf("%v client wakes, want 1 (the NOOP)", n)
			}
		})
	}
}

// TestAutologoutAsleep: a sleeper between commands is logged out by the
// proxy once it has slept idle_timeout, as the server logs out its own;
// an IDLE sleeper is kept (it hears keepalives).
func TestAutologoutAsleep(t *testing.T) {
	srv := startBackend(t, 300*time.Millisecond)
	p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, func(c *Config) {
		c.IdleKeepalive = time.Second
		c.Limits.IdleTimeout = 3 * time.Second
	})
	quiet := p.dial(t)
	quiet.Login(srv.Alice.Name, srv.Alice.Password)
	quiet.MustOK("SELECT INBOX")
	idler := idleAsleep(t, p, srv, 2)
	quiet.Expect("* BYE Autologout; idle for too long")
	quiet.ExpectClosed()
	// Keepalives came meanwhile, one a second.
	idler.WaitFor(`^\* OK Still here$`)
	idler.Send("DONE")
	idler.WaitFor(`^i1 OK IDLE terminated$`)
}

// TestHandoverRace: a client that sends its commands just as its backend
// hands the session over (hibernate_after of 10 ms, commands
// spaced around it) loses none of them: what the backend did not read
// (written − read of "* XSLEEP <read> {n}") goes to the next hop, counted
// only once the client direction has stopped writing to the old one.
func TestHandoverRace(t *testing.T) {
	// hibernate_after is short, but not so short that a resumed session
	// hands off again before the proxy has sent it what the last hop did
	// not read (that would only repeat the resume, on a loaded machine).
	srv := startBackend(t, 10*time.Millisecond)
	p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, nil)
	c := p.dial(t)
	c.Login(srv.Alice.Name, srv.Alice.Password)
	c.MustOK("SELECT INBOX")
	for i := range 300 {
		time.Sleep(time.Duration(5+i%11) * time.Millisecond)
		if i%2 == 0 {
			c.MustOK("NOOP")
			continue
		}
		c.Run(`
C: i1 IDLE
S: + idling
`)
		time.Sleep(time.Duration(5+i%13) * time.Millisecond)
		c.Send("DONE")
		c.WaitFor(`^i1 OK IDLE terminated$`)
	}
	if n := p.wakes(t, wakeClient); n == 0 {
		t.Errorf("no sleep at the proxy: hibernate_after too long for the test")
	}
}

// splitConn holds the bytes of the writes it is told to hold and sends
// them with half of the next write, then the rest of that write a moment
// later: a TLS record cut in two on the wire.
type splitConn struct {
	net.Conn
	hold bool
	held []byte
}

func (s *splitConn) Write(p []byte) (int, error) {
	if s.hold {
		s.held = append(s.held, p...)
		s.hold = false
		return len(p), nil
	}
	if s.held != nil {
		half := len(p) / 2
		out := append(s.held, p[:half]...)
		s.held = nil
		if _, err := s.Conn.Write(out); err != nil {
			return 0, err
		}
		time.Sleep(300 * time.Millisecond)
		if _, err := s.Conn.Write(p[half:]); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return s.Conn.Write(p)
}

// TestTLSSleeperPartialRecord: a TLS 1.3 sleeper at the proxy that reads
// its DONE with part of the next record (a NOOP cut on the wire) answers
// the DONE and wakes with the part it holds, which the woken session's
// record layer completes: the NOOP is answered.
func TestTLSSleeperPartialRecord(t *testing.T) {
	srv := startBackend(t, 300*time.Millisecond)
	p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, nil)
	raw, err := net.Dial("tcp", p.TLSAddr)
	if err != nil {
		t.Fatal(err)
	}
	sc := &splitConn{Conn: raw}
	cfg := p.ClientTLS.Clone()
	cfg.MinVersion = tls.VersionTLS13
	c := imaptest.New(tls.Client(sc, cfg), 0)
	c.Timeout = 15 * time.Second
	defer c.Close()
	if l, err := c.ReadResponse(); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting %q %v", l, err)
	}
	if err := c.Login(srv.Alice.Name, srv.Alice.Password); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Command("SELECT INBOX", nil); err != nil || !imaptest.IsOK(st) {
		t.Fatalf("select %s %v", st, err)
	}
	if err := c.Send("i1 IDLE"); err != nil {
		t.Fatal(err)
	}
	if l, err := c.ReadResponse(); err != nil || l != "+ idling" {
		t.Fatalf("idle %q %v", l, err)
	}
	waitAsleep(t, p, srv, 1)
	sc.hold = true
	if err := c.Send("DONE"); err != nil { // held
		t.Fatal(err)
	}
	if err := c.Send("n1 NOOP"); err != nil { // sent with DONE, cut in two
		t.Fatal(err)
	}
	for _, want := range []string{"i1 OK IDLE terminated", "n1 OK NOOP completed"} {
		if l, err := c.ReadResponse(); err != nil || l != want {
			t.Fatalf("got %q %v, want %q", l, err, want)
		}
	}
}

// TestCompressSleeperLongCommand: a compressed sleeper whose next command
// inflates to more than is decoded asleep wakes with the compressed bytes
// it read, which the woken session's inflater reads first: the command
// is answered.
func TestCompressSleeperLongCommand(t *testing.T) {
	srv := startBackend(t, 300*time.Millisecond)
	p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, nil)
	c := p.dial(t)
	c.Login(srv.Alice.Name, srv.Alice.Password)
	c.MustOK("COMPRESS DEFLATE")
	c.Compress()
	c.MustOK("SELECT INBOX")
	waitAsleep(t, p, srv, 1)
	c.MustOK("SEARCH SUBJECT " + strings.Repeat("x", 6000))
	c.MustOK("NOOP")
}

// lateLink is a loopback link to a backend that can deliver the
// backend's output late: on the connection it is told to hold, it passes
// the greeting and the answer to XRESUME at once, then keeps what the
// backend says until the backend closes, and delivers that in one write
// (a proxy that reads late, on a loaded machine, reads it so).
type lateLink struct {
	addr     string
	hold     chan struct{} // a token: hold the next connection
	released chan struct{} // a token per held connection delivered
}

// startLateLink runs a lateLink to backend until the test ends.
func startLateLink(t *testing.T, backend string) *lateLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	l := &lateLink{addr: ln.Addr().String(), hold: make(chan struct{}, 1), released: make(chan struct{}, 1)}
	go func() {
		for {
			front, err := ln.Accept()
			if err != nil {
				return
			}
			held := false
			select {
			case <-l.hold:
				held = true
			default:
			}
			go l.carry(front, backend, held)
		}
	}()
	return l
}

// resumedLine ends what a held connection passes at once.
const resumedLine = hopTag + " OK resumed\r\n"

func (l *lateLink) carry(front net.Conn, backend string, held bool) {
	defer front.Close()
	back, err := net.Dial("tcp", backend)
	if err != nil {
		return
	}
	defer back.Close()
	go func() {
		io.Copy(back, front)
		back.(*net.TCPConn).CloseWrite()
	}()
	if !held {
		io.Copy(front, back)
		return
	}
	var out []byte
	buf := make([]byte, 4096)
	passed := false
	for {
		n, err := back.Read(buf)
		out = append(out, buf[:n]...)
		// Whole lines pass until the answer to XRESUME has.
		for !passed {
			line, rest, ok := bytes.Cut(out, []byte("\n"))
			if !ok {
				break
			}
			if _, err := front.Write(append(line, '\n')); err != nil {
				return
			}
			passed = string(line)+"\n" == resumedLine
			out = rest
		}
		if err != nil {
			break
		}
	}
	front.Write(out)
	front.(*net.TCPConn).CloseWrite()
	l.released <- struct{}{}
	io.Copy(io.Discard, front)
}

// TestHandoverFlushesUpdates: what a resumed IDLE says just before its
// backend hands it over again reaches the client before the client
// sleeps at the proxy, also when it comes in the same read as the
// "* XSLEEP" (the backend wrote them a moment apart; the proxy read
// late). Before the fix the proxy left it in the client's write buffer,
// unflushed, and put the client to sleep: the EXISTS was lost while the
// blob said the client knew (bench/cluster -nats-kill, 1 of 200 missed).
func TestHandoverFlushesUpdates(t *testing.T) {
	srv := startBackend(t, 300*time.Millisecond)
	link := startLateLink(t, srv.Addr)
	p := startProxy(t, srv.PasswdFile, []string{link.addr}, nil)
	c := idleAsleep(t, p, srv, 1)
	// The proxy hears no notice of it here: a resync resumes the
	// sleeper, whose backend says what changed and hands it over again.
	deliver(t, srv)
	link.hold <- struct{}{}
	p.Resync()
	select {
	case <-link.released:
	case <-time.After(time.Minute):
		t.Fatal("the backend did not hand the resumed session over")
	}
	waitAsleep(t, p, srv, 1)
	c.Run(`
C: DONE
S: * 1 EXISTS
S: * 1 RECENT
S: i1 OK IDLE terminated
`)
}
