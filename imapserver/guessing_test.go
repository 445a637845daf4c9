package imapserver_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// loginOn sends LOGIN on c, closes c, and returns the tagged reply
// without its tag.
func loginOn(t *testing.T, c *testserver.Client, user, password string) string {
	t.Helper()
	defer c.NetConn().Close()
	c.Timeout = time.Minute
	lines := c.Cmd(fmt.Sprintf("a1 LOGIN %q %q", user, password))
	return strings.TrimPrefix(lines[len(lines)-1], "a1 ")
}

// recordLevels is a slog handler that counts records by level and
// message, for tests of what is logged.
type recordLevels struct {
	mu     sync.Mutex
	counts map[string]int // "LEVEL message"
}

func (h *recordLevels) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLevels) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Level.String()+" "+r.Message]++
	return nil
}
func (h *recordLevels) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordLevels) WithGroup(string) slog.Handler      { return h }

func (h *recordLevels) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for k, v := range h.counts {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// guesser logs in with wrong passwords over and over on one connection
// until stop closes, counting the answers in answered.
func guesser(addr string, name func(i int) string, answered *atomic.Int64, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer nc.Close()
	go func() { <-stop; nc.Close() }()
	br := bufio.NewReader(nc)
	if _, err := br.ReadString('\n'); err != nil {
		return
	}
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(nc, "g%d LOGIN %q \"wrong-%d\"\r\n", i, name(i), i); err != nil {
			return
		}
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, fmt.Sprintf("g%d NO", i)) {
			return
		}
		answered.Add(1)
	}
}

// TestGuessingDoesNotLockOutUser: during a guessing
// attack from one address (wrong passwords for alice, and made-up names),
// alice's right password still logs in, from that address and from
// another, after at most the penalty's wait; the guessers are slowed to
// about one attempt per connection per LoginPenaltyMax; nothing is logged
// at ERROR and the waits are logged once per address, not per attempt.
func TestGuessingDoesNotLockOutUser(t *testing.T) {
	const penaltyMax = 2 * time.Second
	logs := &recordLevels{counts: map[string]int{}}
	gm := imapserver.NewGuardMetrics()
	srv := testserver.Start(t, testserver.WithLogger(slog.New(logs)), testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.LoginFailuresPerAddr = 5
		cfg.Limits.LoginFailuresPerUser = 3
		cfg.Limits.LoginFailureRefill = time.Hour // nothing forgiven during the test
		cfg.Limits.LoginPenaltyMax = penaltyMax
		cfg.Limits.FailedLoginDelay = -1
		cfg.GuardMetrics = gm
	}))

	var answered atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const guessers = 4
	for g := range guessers {
		name := func(int) string { return "alice" }
		if g%2 == 1 {
			name = func(i int) string { return fmt.Sprintf("made-up-%d-%d", g, i) }
		}
		wg.Add(1)
		go guesser(srv.Addr, name, &answered, stop, &wg)
	}
	defer func() { close(stop); wg.Wait() }()

	// The address's penalty is at its maximum once the failures exceed
	// the allowance by penaltySteps+1 (5 + 4); wait for a few more.
	testserver.WaitFor(t, "12 guesses answered", func() bool { return answered.Load() >= 12 })

	// The guessers are slowed: in a window, each connection gets at
	// most one answer per penaltyMax, plus one under way at the start.
	// (Without the penalty they get one per password hash: dozens.)
	const window = 2 * penaltyMax
	before := answered.Load()
	time.Sleep(window)
	inWindow := answered.Load() - before
	if limit := int64(guessers * (int(window/penaltyMax) + 1)); inWindow > limit {
		t.Errorf("%d guesses answered in %s by %d connections, want at most %d", inWindow, window, guessers, limit)
	}

	// The rightful user gets in, from the attacked address and another.
	for _, from := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.1"} {
		start := time.Now()
		if got := loginOn(t, srv.DialFrom(t, from), "alice", "alice-secret"); !strings.HasPrefix(got, "OK") {
			t.Fatalf("alice from %s during the attack: %q, want OK", from, got)
		}
		t.Logf("alice from %s logged in after %s", from, time.Since(start).Round(time.Millisecond))
	}
	if got := loginOn(t, srv.DialFrom(t, "127.0.0.1"), "bob", "bob-secret"); !strings.HasPrefix(got, "OK") {
		t.Fatalf("bob from the attacked address: %q, want OK", got)
	}

	if n := logs.count("ERROR"); n != 0 {
		t.Errorf("%d records logged at ERROR during the attack: %v", n, logs.counts)
	}
	if n := logs.count("WARN login attempts delayed"); n < 1 || n > 2 {
		t.Errorf("%d log lines about delayed logins, want 1 or 2 (one a minute per address)", n)
	}
	if n := refusedCount(t, gm, "login_delayed"); n < 1 {
		t.Errorf("refused_total{login_delayed} = %d, want some", n)
	}
}
