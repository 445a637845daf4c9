package imapserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// gatedAuth holds every Authenticate until n of them are under way at
// once (or a bound passes), so that a test's logins overlap for sure.
type gatedAuth struct {
	imapserver.Authenticator
	n       int
	mu      sync.Mutex
	waiting int
	all     chan struct{}
}

func (g *gatedAuth) Authenticate(ctx context.Context, username, password string) (string, error) {
	g.mu.Lock()
	g.waiting++
	if g.waiting == g.n {
		close(g.all)
	}
	g.mu.Unlock()
	select {
	case <-g.all:
	case <-time.After(20 * time.Second):
	}
	return g.Authenticator.Authenticate(ctx, username, password)
}

// TestLoginCrowdFromOneAddress: many correct logins at once from one
// address (a webmail, a proxy, a phone opening its connections) are not
// made to wait by the failed-login penalty, even with allowances smaller
// than the crowd: only failures already known count. Before, logins under
// way counted as failures and such a crowd held itself at the penalty's
// maximum.
func TestLoginCrowdFromOneAddress(t *testing.T) {
	const crowd = 12
	gm := imapserver.NewGuardMetrics()
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.LoginFailuresPerAddr = 2
		cfg.Limits.LoginFailuresPerUser = 1
		cfg.Limits.LoginFailureRefill = time.Hour
		cfg.Limits.LoginPenaltyMax = 16 * time.Second
		cfg.Auth = &gatedAuth{Authenticator: cfg.Auth, n: crowd, all: make(chan struct{})}
		cfg.GuardMetrics = gm
	}))
	clients := make([]*testserver.Client, crowd)
	for i := range clients {
		clients[i] = srv.Dial(t)
	}
	var wg sync.WaitGroup
	status := make([]string, crowd)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, status[i] = c.Do(fmt.Sprintf("LOGIN %s %s", srv.Alice.Name, srv.Alice.Password))
		}()
	}
	wg.Wait()
	for i, st := range status {
		if !strings.HasPrefix(st, "OK") {
			t.Fatalf("login %d: %q", i, st)
		}
	}
	if n := testserver.Gather(t, gm)["dormouse_imap_refused_total,reason=login_delayed"]; n != 0 {
		t.Fatalf("%v of %d correct logins from one address were delayed by the failed-login penalty", n, crowd)
	}
}
