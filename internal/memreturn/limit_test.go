package memreturn

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestFollowerPolicy: after each collection, once its sweep is over, the
// limit is what the process then holds plus half its live heap (at least
// the floor); collections closer than minInterval lift it at once, and it
// comes back once collections have been slower for liftFor, at a
// collection or at a tick between them.
func TestFollowerPolicy(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	const mib = 1 << 20
	none := int64(math.MaxInt64)
	type step struct {
		at         time.Duration
		gc         bool // collections ended (else a tick): one the runtime started,
		auto       int  // or this many it started (for one call of the hook)
		forced     int  // and this many forced (runtime.GC)
		live, held uint64
		// unswept, when set, is what the process holds at the
		// collection's end, before the sweep (held is read after it)
		unswept uint64
		want    int64
		changed bool // for ticks: whether the limit is set anew
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a tick before any collection follows the heap", []step{
			{at: 0, live: 40 * mib, held: 60 * mib, want: 80 * mib, changed: true},
			{at: time.Second, live: 40 * mib, held: 70 * mib, want: 80 * mib},
		}},
		{"half the live heap above what is held", []step{
			{at: 0, gc: true, live: 40 * mib, held: 60 * mib, want: 80 * mib},
			{at: time.Second, gc: true, live: 50 * mib, held: 70 * mib, want: 95 * mib},
			{at: 1500 * time.Millisecond, live: 50 * mib, held: 90 * mib, want: 95 * mib},
		}},
		{"the limit follows the swept heap, not the collection's end", []step{
			{at: 0, gc: true, live: 40 * mib, unswept: 100 * mib, held: 60 * mib, want: 80 * mib},
			{at: time.Second, gc: true, live: 40 * mib, unswept: 90 * mib, held: 62 * mib, want: 82 * mib},
		}},
		{"a small heap gets the floor", []step{
			{at: 0, gc: true, live: 2 * mib, held: 10 * mib, want: 14 * mib},
		}},
		{"fast collections lift the limit until they have been slow for liftFor", []step{
			{at: 0, gc: true, live: 40 * mib, held: 60 * mib, want: 80 * mib},
			{at: 500 * time.Millisecond, gc: true, live: 40 * mib, held: 60 * mib, want: 80 * mib},
			{at: 550 * time.Millisecond, gc: true, live: 60 * mib, held: 90 * mib, want: none},
			{at: 1500 * time.Millisecond, gc: true, live: 30 * mib, held: 50 * mib, want: none},
			{at: 2 * time.Second, live: 30 * mib, held: 50 * mib, want: none},
			{at: 2500 * time.Millisecond, gc: true, live: 30 * mib, held: 50 * mib, want: none},
			{at: 2600 * time.Millisecond, gc: true, live: 30 * mib, held: 50 * mib, want: 65 * mib},
		}},
		{"a lift that ran out with no collection ends at a tick", []step{
			{at: 0, gc: true, live: 40 * mib, held: 60 * mib, want: 80 * mib},
			{at: 10 * time.Millisecond, gc: true, live: 40 * mib, held: 60 * mib, want: none},
			{at: time.Second, live: 40 * mib, held: 90 * mib, want: none},
			{at: 2 * time.Second, live: 40 * mib, held: 90 * mib, want: none},
			{at: 2010 * time.Millisecond, live: 40 * mib, held: 90 * mib, want: 110 * mib, changed: true},
		}},
		{"the memory returner's forced collections do not lift it", []step{
			{at: 0, gc: true, live: 40 * mib, held: 60 * mib, want: 80 * mib},
			{at: 10 * time.Millisecond, gc: true, forced: 1, live: 40 * mib, held: 60 * mib, want: 80 * mib},
			{at: 20 * time.Millisecond, gc: true, forced: 1, live: 30 * mib, held: 40 * mib, want: 55 * mib},
			{at: time.Second, gc: true, live: 30 * mib, held: 40 * mib, want: 55 * mib},
		}},
		{"several collections in one call of the hook, fast on average, lift it", []step{
			{at: 0, gc: true, live: 40 * mib, held: 60 * mib, want: 80 * mib},
			{at: 250 * time.Millisecond, gc: true, auto: 3, live: 40 * mib, held: 60 * mib, want: none},
		}},
		{"a burst right after a lift extends it", []step{
			{at: 0, gc: true, live: 40 * mib, held: 60 * mib, want: 80 * mib},
			{at: 10 * time.Millisecond, gc: true, live: 40 * mib, held: 60 * mib, want: none},
			{at: 1900 * time.Millisecond, gc: true, live: 40 * mib, held: 60 * mib, want: none},
			{at: 1950 * time.Millisecond, gc: true, live: 40 * mib, held: 60 * mib, want: none},
			{at: 3 * time.Second, live: 40 * mib, held: 60 * mib, want: none},
			{at: 3950 * time.Millisecond, live: 40 * mib, held: 60 * mib, want: 80 * mib, changed: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFollower()
			var cycles, forced uint64
			for i, s := range tt.steps {
				if s.gc && s.auto == 0 && s.forced == 0 {
					s.auto = 1
				}
				cycles += uint64(s.auto + s.forced)
				forced += uint64(s.forced)
				now, hs := t0.Add(s.at), heapState{live: s.live, held: s.held, cycles: cycles, forced: forced}
				if s.gc {
					end := hs
					if s.unswept != 0 {
						end.held = s.unswept
					}
					before := f.limit
					got, lifted := f.afterGC(now, end)
					if !lifted {
						if got != before {
							t.Fatalf("step %d (collection at %v): limit %d MiB set before the sweep, want %d MiB kept", i, s.at, got/mib, before/mib)
						}
						got = f.follow(now.Add(f.sweepWait), hs)
					}
					if got != s.want {
						t.Fatalf("step %d (collection at %v): limit %d MiB, want %d MiB", i, s.at, got/mib, s.want/mib)
					}
					continue
				}
				got, changed, collect := f.tick(now, hs)
				if got != s.want || changed != s.changed || collect {
					t.Fatalf("step %d (tick at %v): limit %d MiB changed %v, want %d MiB changed %v", i, s.at, got/mib, changed, s.want/mib, s.changed)
				}
			}
		})
	}
}

// TestFollowerRun: run against the real runtime, the limit is set after
// collections (the cleanup hook re-arms itself: it holds after several),
// sits above what the process holds, and is removed when ctx ends.
func TestFollowerRun(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	ctx, cancel := context.WithCancel(context.Background())
	f := NewFollower()
	f.minInterval = 0 // the test's own collections come back to back
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for round := 0; round < 3; round++ {
		debug.SetMemoryLimit(math.MaxInt64) // this round's collection must set it again
		for debug.SetMemoryLimit(-1) == math.MaxInt64 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no limit set after collections", round)
			}
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
	}
	if limit, held := debug.SetMemoryLimit(-1), readHeap().held; limit < int64(held) {
		t.Errorf("limit %d below what the process holds (%d)", limit, held)
	}
	cancel()
	<-done
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("limit %d left after the follower ended", got)
	}
}
