//go:build linux

package imapserver_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestHibernationStalledTLS: 1,000 hibernated TLS connections (after
// STARTTLS) stop reading (the client's receive buffer at the kernel's
// minimum, the server's send buffer small, so both fill after a few KB)
// while flag changes to their mailbox and keepalives go on. Two other
// sleepers of the same mailbox, which read (one hibernated before the
// stalled ones, one after, so that one of them comes after them in any
// walk over the mailbox's sleepers), must get every change about as fast
// as before the stall: a write that waits for a stalled client (up to
// the 20 ms TLS write timeout) must hold up no other sleeper, and must
// not add up over a thousand of them. In the end every stalled
// connection is dropped, as an active IDLE is after a failed write. The
// two probes are plain TCP, whose writes never wait, so that only the
// stalled clients can be dropped.
func TestHibernationStalledTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 TLS connections")
	}
	const (
		stalled = 1000
		msgs    = 100 // a change of all of them is ~3.6 KB of FETCH lines per sleeper
	)
	srv := testserver.Start(t, testserver.WithTLS(false), testserver.WithSendBuffer(4096),
		testserver.WithConfig(func(c *imapserver.Config) {
			c.HibernateAfter = time.Millisecond
			c.IdleKeepalive = time.Second
			c.Limits.MaxConnsPerUser = 2 * stalled
			c.Limits.MaxConnsPerUserAddr = 2 * stalled
		}))
	fillOver(t, srv, transportPlain, "INBOX", msgs)
	// Waits are generous: a thousand TLS handshakes on a loaded machine.
	waitMetric := func(key string, done func(float64) bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
			got := testserver.Gather(t, srv.Metrics)[key]
			if done(got) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s = %v after two minutes", key, got)
			}
		}
	}
	slept := func(n float64) {
		t.Helper()
		waitMetric("dormouse_imap_hibernations_total", func(v float64) bool { return v >= n })
	}

	// A probe sleeper reads every line and notes when it came.
	type line struct {
		text string
		at   time.Time
	}
	probe := func() <-chan line {
		c := srv.Login(t, srv.Alice)
		c.Cmd("s SELECT INBOX")
		c.Send("i IDLE")
		c.Expect("S: + idling")
		ch := make(chan line, 4*msgs)
		// The server sends nothing after "+ idling" until a change or
		// a keepalive, so c's reader holds nothing more: read the
		// connection directly from here on.
		c.NetConn().SetReadDeadline(time.Time{}) // Expect's
		br := bufio.NewReader(c.NetConn())
		go func() {
			defer close(ch)
			for {
				s, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if s = strings.TrimRight(s, "\r\n"); s != "* OK Still here" {
					ch <- line{s, time.Now()}
				}
			}
		}()
		return ch
	}
	probes := []<-chan line{probe()}
	slept(1)

	// The stalled clients: STARTTLS, logged in, IDLE; they read (and
	// drop) what comes until the stall begins (stops), then never again.
	// Keepalives alone would fill their buffers within seconds (a small
	// write costs a whole buffer slot), before a thousand TLS logins are
	// done.
	dialer := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	var drains sync.WaitGroup
	var stopMu sync.Mutex
	var stops []func()
	readTagged := func(br *bufio.Reader, tag string) error {
		for {
			s, err := br.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(s, tag+" ") {
				if !strings.HasPrefix(s[len(tag)+1:], "OK") {
					return fmt.Errorf("stalled client: %s", s)
				}
				return nil
			}
		}
	}
	stall := func() error {
		nc, err := dialer.Dial("tcp", srv.Addr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { nc.Close() })
		nc.SetDeadline(time.Now().Add(2 * time.Minute))
		br := bufio.NewReader(nc)
		if _, err := br.ReadString('\n'); err != nil { // greeting
			return err
		}
		if _, err := io.WriteString(nc, "t STARTTLS\r\n"); err != nil {
			return err
		}
		if err := readTagged(br, "t"); err != nil {
			return err
		}
		tc := tls.Client(nc, srv.TLS)
		br = bufio.NewReader(tc)
		if _, err := fmt.Fprintf(tc, "l LOGIN %s %s\r\ns SELECT INBOX\r\ni IDLE\r\n", srv.Alice.Name, srv.Alice.Password); err != nil {
			return err
		}
		if err := readTagged(br, "l"); err != nil {
			return err
		}
		if err := readTagged(br, "s"); err != nil {
			return err
		}
		if s, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(s, "+ idling") {
			return fmt.Errorf("stalled client: IDLE: %q %v", s, err)
		}
		nc.SetDeadline(time.Time{})
		drains.Go(func() { io.Copy(io.Discard, tc) }) // until the read deadline
		stopMu.Lock()
		stops = append(stops, func() { tc.SetReadDeadline(time.Now()) })
		stopMu.Unlock()
		return nil
	}
	work := make(chan struct{})
	errs := make(chan error, stalled)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range work {
				if err := stall(); err != nil {
					errs <- err
				}
			}
		})
	}
	for range stalled {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	probes = append(probes, probe())
	slept(stalled + 2)

	// One change at a time from an active session; a round's latency is
	// from its STORE to the probes' last FETCH of it.
	changer := srv.Login(t, srv.Alice)
	changer.Cmd("c SELECT INBOX")
	flagged := false
	round := func() time.Duration {
		t.Helper()
		op := "+FLAGS"
		if flagged {
			op = "-FLAGS"
		}
		flagged = !flagged
		start := time.Now()
		if got := changer.Cmd("c STORE 1:* " + op + " (\\Flagged)"); !strings.HasPrefix(got[len(got)-1], "c OK") {
			t.Fatalf("STORE: %v", got)
		}
		var worst time.Duration
		for i, p := range probes {
			for range msgs {
				select {
				case l, ok := <-p:
					if !ok {
						t.Fatalf("probe %d: connection closed", i)
					}
					if !strings.Contains(l.text, " FETCH ") {
						t.Fatalf("probe %d: %q, want a FETCH", i, l.text)
					}
					worst = max(worst, l.at.Sub(start))
				case <-time.After(time.Minute):
					t.Fatalf("probe %d: no FETCH within a minute of STORE", i)
				}
			}
		}
		return worst
	}

	// Baseline: the same changes while the stalled clients still read.
	var base, during []time.Duration
	for range 6 {
		base = append(base, round())
	}
	for _, stop := range stops {
		stop()
	}
	drains.Wait()
	// They have stopped reading: their buffers fill within a few rounds
	// (and keepalives); each then fails a write and is dropped.
	for range 6 {
		during = append(during, round())
	}
	// Left: the two probes, and the changer when it sleeps between
	// its commands.
	waitMetric("dormouse_imap_connections,state=hibernated", func(v float64) bool { return v <= 3 })
	for range 3 {
		during = append(during, round())
	}
	slices.Sort(base)
	slices.Sort(during)
	t.Logf("probe latency, baseline (6 rounds): %v; with %d stalled clients (9 rounds): %v", base, stalled, during)
	// A generous bound for a loaded machine: a write that waits in
	// turn for each stalled client costs 1,000 × 20 ms.
	if worst, limit := during[len(during)-1], base[len(base)-1]+2*time.Second; worst > limit {
		t.Errorf("with %d stalled TLS sleepers a probe waited %v for a change, want under %v (baseline %v)",
			stalled, worst, limit, base)
	}
}
