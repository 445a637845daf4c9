package main

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/dormouse/dormouse/bench/internal/stats"
)

// recorder collects the well-behaved clients' latencies and errors by
// operation kind, and the hostile attacks done.
type recorder struct {
	mu       sync.Mutex
	samples  map[string][]time.Duration
	errors   map[string]int
	firstErr map[string]string
	attacks  map[string]int
	attackFx map[string]int // attacks that could not be carried out
	// mark is where each kind's samples stood at the last report.
	mark map[string]int
	// from is when latencies start counting: the clients log in all at
	// once at the start, a burst that is not the steady state measured.
	from time.Time
}

func newRecorder(from time.Time) *recorder {
	return &recorder{from: from, samples: map[string][]time.Duration{}, errors: map[string]int{}, firstErr: map[string]string{},
		attacks: map[string]int{}, attackFx: map[string]int{}, mark: map[string]int{}}
}

// ok records one successful operation.
func (r *recorder) ok(kind string, d time.Duration) {
	if time.Now().Add(-d).Before(r.from) {
		return
	}
	r.mu.Lock()
	r.samples[kind] = append(r.samples[kind], d)
	r.mu.Unlock()
}

// fail records one failed operation; the first error of each kind is kept
// for the report.
func (r *recorder) fail(kind string, err error) {
	r.mu.Lock()
	r.errors[kind]++
	if _, ok := r.firstErr[kind]; !ok {
		r.firstErr[kind] = shorten(err.Error(), 160)
	}
	r.mu.Unlock()
}

// attack records one hostile attack and whether it could be carried out.
func (r *recorder) attack(kind string, err error) {
	r.mu.Lock()
	r.attacks[kind]++
	if err != nil {
		r.attackFx[kind]++
		if _, ok := r.firstErr["hostile "+kind]; !ok {
			r.firstErr["hostile "+kind] = shorten(err.Error(), 160)
		}
	}
	r.mu.Unlock()
}

// mergeAttacks adds the attacks another process reported.
func (r *recorder) mergeAttacks(rep attackReport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range rep.Attacks {
		r.attacks[k] += n
	}
	for k, n := range rep.Undone {
		r.attackFx[k] += n
	}
	for k, e := range rep.FirstErr {
		if _, ok := r.firstErr[k]; !ok {
			r.firstErr[k] = e
		}
	}
}

// dists summarizes every kind's samples so far.
func (r *recorder) dists() map[string]stats.Dist {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]stats.Dist, len(r.samples))
	for k, s := range r.samples {
		out[k] = stats.New(s, 0)
	}
	return out
}

// interval summarizes the samples since the last call.
func (r *recorder) interval() map[string]stats.Dist {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]stats.Dist, len(r.samples))
	for k, s := range r.samples {
		out[k] = stats.New(s[r.mark[k]:], 0)
		r.mark[k] = len(s)
	}
	return out
}

// snapshot copies the counters.
func (r *recorder) snapshot() (errs map[string]int, first map[string]string, attacks, attackFx map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.errors), maps.Clone(r.firstErr), maps.Clone(r.attacks), maps.Clone(r.attackFx)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// ledger holds every message acknowledged to a well-behaved client (APPEND
// OK) or over LMTP (250 after DATA), by user and mailbox.
type ledger struct {
	mu    sync.Mutex
	acked map[string]map[string][]string // user → mailbox → marker ids
	n     int
}

func newLedger() *ledger { return &ledger{acked: map[string]map[string][]string{}} }

func (l *ledger) add(user, mailbox, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.acked[user] == nil {
		l.acked[user] = map[string][]string{}
	}
	l.acked[user][mailbox] = append(l.acked[user][mailbox], id)
	l.n++
}

// count is how many messages were acknowledged.
func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// wakeClock remembers, per user, when the last delivery became possible,
// so an IDLE client's EXISTS can be timed from it.
type wakeClock struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (w *wakeClock) set(user string, t time.Time) {
	w.mu.Lock()
	w.last[user] = t
	w.mu.Unlock()
}

func (w *wakeClock) get(user string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[user]
}
