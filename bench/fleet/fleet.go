package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// fleet is the set of simulated clients and what they count.
type fleet struct {
	c     *config
	log   *slog.Logger
	stats map[string]*kindStats // by kind name; fixed once built

	mu     sync.Mutex
	probes map[string]*probe // user → a delivery waiting to be seen
	// watchers: per user, how many of its connections wait for mail
	// (started); a delivery goes only to users with one.
	watchers map[string]int
}

// kindStats are one kind's counters.
type kindStats struct {
	clients    atomic.Int64 // clients started
	open       atomic.Int64 // long-lived connections open now
	busy       atomic.Int64 // connections in a command or a short session now
	keepalives atomic.Int64 // "* OK Still here" received
	answered   atomic.Int64 // keepalive answers finished (back in IDLE)
	// seenInCommand counts deliveries seen in a command's responses
	// (a keepalive answer's NOOP or DONE), not in IDLE.
	seenInCommand atomic.Int64
	sessions      atomic.Int64 // short sessions (sync, webmail)
	reconnects    atomic.Int64
	compressed    atomic.Int64 // connections that turned COMPRESS on
	skipped       atomic.Int64 // clients that could not run (NOTIFY not offered)
	failed        atomic.Int64 // clients that stopped on an error

	mu      sync.Mutex
	latency []time.Duration // delivery → EXISTS seen
	misses  int             // deliveries not seen within -wake-timeout
	lastErr string
}

func (s *kindStats) conn(d int64) { s.open.Add(d) }

// probe is one delivery waiting to be seen by its user's client.
type probe struct {
	seen chan time.Time
}

func newFleet(c *config, log *slog.Logger) *fleet {
	f := &fleet{c: c, log: log, stats: map[string]*kindStats{}, probes: map[string]*probe{}, watchers: map[string]int{}}
	for _, k := range allKinds() {
		f.stats[k.name] = &kindStats{}
	}
	return f
}

// assign gives each user a kind: the mix's percents, in blocks, so that
// the first half of the users has the same mix as the whole.
func (f *fleet) assign() []*kind {
	out := make([]*kind, f.c.Users)
	var order []*kind
	for _, k := range allKinds() {
		for range f.c.Mix[k.name] {
			order = append(order, k)
		}
	}
	// 37 is prime to 100: each block of 100 users takes every slot once.
	for i := range out {
		out[i] = order[(i*37)%100]
	}
	return out
}

// start runs user i's client with kind k until ctx ends.
func (f *fleet) start(ctx context.Context, wg *sync.WaitGroup, i int, k *kind) {
	cl := &client{
		f: f, k: k, st: f.stats[k.name], user: f.c.user(i),
		rng: rand.New(rand.NewPCG(f.c.Seed, uint64(i))),
	}
	cl.st.clients.Add(1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := k.run(ctx, cl); err != nil && ctx.Err() == nil {
			cl.st.failed.Add(1)
			cl.st.mu.Lock()
			cl.st.lastErr = fmt.Sprintf("%s: %v", cl.user, err)
			cl.st.mu.Unlock()
			f.log.Warn("client stopped", "kind", k.name, "user", cl.user, "err", err)
		}
	}()
}

// started notes that one of cl's connections waits for mail now; inbox
// says it is the one that watches INBOX.
func (f *fleet) started(cl *client, inbox bool) {
	if !inbox {
		return
	}
	f.mu.Lock()
	f.watchers[cl.user]++
	f.mu.Unlock()
}

// seen is called by a connection of user when its EXISTS count grew;
// true when a delivery waited for it.
func (f *fleet) seen(user string, at time.Time) bool {
	f.mu.Lock()
	p := f.probes[user]
	delete(f.probes, user)
	f.mu.Unlock()
	if p != nil {
		p.seen <- at
	}
	return p != nil
}

// expect registers a delivery to user about to happen.
func (f *fleet) expect(user string) *probe {
	p := &probe{seen: make(chan time.Time, 1)}
	f.mu.Lock()
	f.probes[user] = p
	f.mu.Unlock()
	return p
}

// forget drops a probe that timed out.
func (f *fleet) forget(user string) {
	f.mu.Lock()
	delete(f.probes, user)
	f.mu.Unlock()
}

// counts sums the kinds' counters: long-lived connections open, and
// connections (of any kind) in a command or short session now.
func (f *fleet) counts() (open, busy int64) {
	for _, k := range allKinds() {
		s := f.stats[k.name]
		open += s.open.Load()
		busy += s.busy.Load()
	}
	return open, busy
}
