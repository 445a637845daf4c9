package memreturn

import (
	"math"
	"testing"
	"time"
)

// TestBusyRoom: room is given when the allocation rate since the last
// collection asks for more than GOGC gives a small live heap, by raising
// GOGC so that the goal is the live heap plus a pace of allocation (at
// most maxRoom); a tick that finds the rate fallen gives it back; a
// large live heap, or collection turned off, gets none.
func TestBusyRoom(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
	const mib = 1 << 20
	type step struct {
		at          time.Duration
		gc          bool    // a collection ended (else a tick)
		allocated   float64 // MiB allocated since the start
		live, roots float64 // MiB
		room        float64 // MiB wanted after the step
		gogc        int
		ended       bool // for ticks: whether the room ended
	}
	tests := []struct {
		name  string
		base  int
		steps []step
	}{
		{"the active workload: a small heap allocating fast", 100, []step{
			{at: 0, gc: true, allocated: 100, live: 3, roots: 0.5, gogc: 100},
			{at: 15 * time.Millisecond, gc: true, allocated: 101.875, live: 3, roots: 0.5, room: 12.5, gogc: 358},
			{at: 115 * time.Millisecond, gc: true, allocated: 114.375, live: 3, roots: 0.5, room: 12.5, gogc: 358},
			{at: 150 * time.Millisecond, allocated: 118.75, live: 3, roots: 0.5, room: 12.5, gogc: 358},
			{at: 1115 * time.Millisecond, allocated: 120, live: 3, roots: 0.5, gogc: 100, ended: true},
		}},
		{"a fleet: a large live heap gets none", 100, []step{
			{at: 0, gc: true, allocated: 100, live: 20, roots: 2, gogc: 100},
			{at: 100 * time.Millisecond, gc: true, allocated: 105, live: 20, roots: 2, gogc: 100},
			{at: 1100 * time.Millisecond, allocated: 106, live: 20, roots: 2, gogc: 100},
		}},
		{"at most maxRoom", 100, []step{
			{at: 0, gc: true, allocated: 0, live: 3, roots: 1, gogc: 100},
			{at: 10 * time.Millisecond, gc: true, allocated: 20, live: 3, roots: 1, room: 16, gogc: 400},
		}},
		{"an operator's GOGC counts", 400, []step{
			{at: 0, gc: true, allocated: 0, live: 3, roots: 0.5, gogc: 400},
			{at: 100 * time.Millisecond, gc: true, allocated: 10, live: 3, roots: 0.5, gogc: 400},
			{at: 200 * time.Millisecond, gc: true, allocated: 25, live: 3, roots: 0.5, room: 15, gogc: 429},
		}},
		{"collection off stays off", -1, []step{
			{at: 0, gc: true, allocated: 0, live: 3, roots: 0.5, gogc: -1},
			{at: 10 * time.Millisecond, gc: true, allocated: 20, live: 3, roots: 0.5, gogc: -1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBusyRoom(tt.base)
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				hs := heapState{live: uint64(s.live * mib), roots: uint64(s.roots * mib), allocs: uint64(s.allocated * mib)}
				if s.gc {
					b.afterGC(now, hs)
				} else if ended := b.tick(now, hs); ended != s.ended {
					t.Fatalf("step %d (tick at %v): ended %v, want %v", i, s.at, ended, s.ended)
				}
				if math.Abs(float64(b.room)-s.room*mib) > mib/64 || b.gogc != s.gogc {
					t.Fatalf("step %d (at %v): room %.2f MiB GOGC %d, want %.2f MiB GOGC %d", i, s.at, float64(b.room)/mib, b.gogc, s.room, s.gogc)
				}
			}
		})
	}
}

// TestFollowerBusy: the Follower's limit leaves the busy room above what
// is held, and a tick that ends the room says so even when the limit is
// lifted, so that GOGC is set back.
func TestFollowerBusy(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
	const mib = 1 << 20
	f := NewFollower()
	hs := heapState{live: 3 * mib, held: 12 * mib, roots: mib / 2, cycles: 1, allocs: 100 * mib}
	// The limit follows once the collection's sweep is over (follow).
	f.afterGC(t0, hs)
	if got := f.follow(t0, hs); got != 16*mib {
		t.Fatalf("first collection: limit %d MiB, want 16", got/mib)
	}
	hs.cycles, hs.allocs = 2, hs.allocs+25*mib
	f.afterGC(t0.Add(100*time.Millisecond), hs)
	if got := f.follow(t0.Add(100*time.Millisecond), hs); got != 12*mib+16*mib || f.busy.gogc != 458 {
		t.Fatalf("busy: limit %d MiB GOGC %d, want 28 MiB (the room at most 16) and 458", got/mib, f.busy.gogc)
	}
	hs.cycles, hs.allocs = 3, hs.allocs+5*mib/2
	if got, lifted := f.afterGC(t0.Add(110*time.Millisecond), hs); got != math.MaxInt64 || !lifted {
		t.Fatalf("a burst: limit %d, want none", got)
	}
	hs.allocs += mib
	got, changed, collect := f.tick(t0.Add(time.Second), hs)
	if got != math.MaxInt64 || !changed || !collect || f.busy.gogc != 100 {
		t.Fatalf("quiet while lifted: limit %d changed %v collect %v GOGC %d, want none, true, true, 100", got, changed, collect, f.busy.gogc)
	}
}
