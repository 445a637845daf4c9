package memreturn

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Follower keeps the runtime's soft memory limit a little above what the
// process holds after each collection, so that a server that keeps
// serving while nearly all its sessions sleep does not carry the
// collector's default headroom. With GOGC 100 the heap grows to twice
// what the last collection found live before the next one, and the
// scavenger keeps free pages up to that goal: for a fleet of sleepers
// whose few awake sessions and asleep answers allocate a few MB a
// second, that headroom (garbage awaiting the next collection, free
// pages kept) is the largest part of its memory above sleepers that do
// nothing (docs/benchmarks.md, "A fleet of mixed clients").
//
// A fixed limit costs bursts dearly: below a burst's need the collector
// runs back to back (5× the CPU per wake, "Memory after 10,000 sleepers
// settle"). So the limit follows the heap: after each collection, once
// its sweep is over, it is set to what the process then holds plus a
// headroom, and when collections come closer together than minInterval
// (a burst of wakes, a search-index build, anything allocating fast) it
// is lifted at once and stays lifted until collections have been slower
// than that for liftFor. A burst pays for at most the one or two
// collections that detect it.
//
// What the process holds is read sweepWait after the collection, not at
// its end: until the sweeper has run, the spans the collection emptied
// still count as in use, so a limit read then is the heap's previous peak
// plus the headroom, and each cycle may grow to the last one's peak plus
// the headroom again (a ratchet that only GOGC's goal stopped: on
// bench/fleet the limit rarely bound, docs/benchmarks.md "A fleet of
// mixed clients").
//
// A busy server gets heap room by its allocation rate besides (busyRoom,
// busy.go): the limit leaves at least that much above what is held, and
// GOGC is raised to match while it lasts.
type Follower struct {
	mu sync.Mutex // afterGC runs on the runtime's cleanup goroutine, tick and follow on Run's

	ratio       float64       // headroom: this share of the live heap,
	floor       uint64        // and at least this many bytes
	minInterval time.Duration // collections closer than this lift the limit
	liftFor     time.Duration // for this long after the last of them
	sweepWait   time.Duration // the limit follows this long after a collection

	lastAuto    time.Time // the end of the last collection the runtime started itself
	cycles      uint64    // collections so far, and of them forced
	forced      uint64    // (runtime.GC: the memory returner's), at the last afterGC
	liftedUntil time.Time
	limit       int64 // the limit last set; math.MaxInt64 when none

	busy    busyRoom
	gogcSet int // the GOGC last set

	// collected tells Run that a collection ended and was not a
	// burst's: the limit follows sweepWait later.
	collected chan struct{}
}

// NewFollower returns a Follower with the settings tried on bench/fleet
// (docs/benchmarks.md, "A fleet of mixed clients"): a headroom of half
// the live heap and at least 4 MiB keeps a fleet's collections about a
// second apart between keepalive rounds; 100 ms apart is a burst (a
// keepalive round of 2,000 answers asleep may be one), and its lift ends
// 2 s after its last fast collection, so that a keepalive round every
// 30 s does not leave the heap lifted for a third of the time. A heap of
// tens of MiB is swept in milliseconds on an idle core; 100 ms leaves
// room for a busy one (a sweep not yet over only raises the limit).
func NewFollower() *Follower {
	return &Follower{
		ratio:       0.5,
		floor:       4 << 20,
		minInterval: 100 * time.Millisecond,
		liftFor:     2 * time.Second,
		sweepWait:   100 * time.Millisecond,
		limit:       math.MaxInt64,
		busy:        newBusyRoom(100),
		collected:   make(chan struct{}, 1),
	}
}

// heapState is what the policy reads of the runtime.
type heapState struct {
	live   uint64 // heap found live by the last collection
	held   uint64 // memory the runtime holds from the OS, less its free heap
	cycles uint64 // collections so far
	forced uint64 // of them, forced (runtime.GC)
	allocs uint64 // bytes allocated since the start
	roots  uint64 // stacks and globals the collector scans
}

// afterGC is the policy at the end of one or more collections at now.
// A burst lifts the limit at once: it returns math.MaxInt64 and lifted.
// Otherwise the limit stays as it is until swept, sweepWait later. Only
// the collections the runtime started itself tell how fast the process
// allocates: the memory returner's runtime.GC and debug.FreeOSMemory
// come back to back, and the runtime may run the hook once for several
// collections.
func (f *Follower) afterGC(now time.Time, s heapState) (limit int64, lifted bool) {
	auto := (s.cycles - f.cycles) - min(s.forced-f.forced, s.cycles-f.cycles)
	f.cycles, f.forced = s.cycles, s.forced
	f.busy.afterGC(now, s)
	if auto > 0 {
		if !f.lastAuto.IsZero() && now.Sub(f.lastAuto) < time.Duration(auto)*f.minInterval {
			f.liftedUntil = now.Add(f.liftFor)
		}
		f.lastAuto = now
	}
	if now.Before(f.liftedUntil) {
		f.limit = math.MaxInt64
		return f.limit, true
	}
	return f.limit, false
}

// tick is the policy between collections: a lift that ran out while no
// collection came (the burst over, the heap far below its goal) ends,
// and so does busy room the allocation rate no longer asks for. It
// returns the limit to set, whether it changed, and whether busy room
// ended: its garbage is then collected at once (collect), since a server
// gone quiet may not collect again for minutes.
func (f *Follower) tick(now time.Time, s heapState) (limit int64, changed, collect bool) {
	quiet := f.busy.tick(now, s)
	if !quiet && (f.limit != math.MaxInt64 || now.Before(f.liftedUntil)) {
		return f.limit, false, false
	}
	old := f.limit
	return f.follow(now, s), old != f.limit || quiet, quiet
}

// follow sets f.limit for s, read at now (by Run once a collection's
// sweep is over), and returns it: math.MaxInt64 while lifted.
func (f *Follower) follow(now time.Time, s heapState) int64 {
	if now.Before(f.liftedUntil) {
		f.limit = math.MaxInt64
		return f.limit
	}
	headroom := max(uint64(float64(s.live)*f.ratio), f.floor, f.busy.room)
	f.limit = int64(min(s.held+headroom, math.MaxInt64))
	return f.limit
}

// readHeap reads the heap state from the runtime.
func readHeap() heapState {
	s := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/gc/cycles/forced:gc-cycles"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/scan/globals:bytes"},
	}
	metrics.Read(s)
	total, released, free := s[1].Value.Uint64(), s[2].Value.Uint64(), s[3].Value.Uint64()
	return heapState{
		live:   s[0].Value.Uint64(),
		held:   total - min(total, released+free),
		cycles: s[4].Value.Uint64(),
		forced: s[5].Value.Uint64(),
		allocs: s[6].Value.Uint64(),
		roots:  s[7].Value.Uint64() + s[8].Value.Uint64(),
	}
}

// readGOGC reads GOGC as set (the environment, debug.SetGCPercent): -1
// when collection is off.
func readGOGC() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(int64(s[0].Value.Uint64()))
}

// apply sets the runtime's limit and GOGC to the policy's; under f.mu.
func (f *Follower) apply(limit int64) {
	debug.SetMemoryLimit(limit)
	if f.busy.gogc != f.gogcSet {
		debug.SetGCPercent(f.busy.gogc)
		f.gogcSet = f.busy.gogc
	}
}

// Run applies the policy until ctx ends: after every collection (a
// burst's lift at once, the limit once the sweep is over), and every
// second for a lift that ran out. When ctx ends the limit is removed.
func (f *Follower) Run(ctx context.Context) {
	f.mu.Lock()
	f.busy = newBusyRoom(readGOGC())
	f.gogcSet = f.busy.base
	f.mu.Unlock()
	f.armAfterGC(ctx)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	sweep := time.NewTimer(f.sweepWait)
	sweep.Stop()
	defer sweep.Stop()
	// Collections closer than sweepWait (forced ones: a burst's lift
	// acts at once) wait for the first one's timer, not each for its own:
	// a run of them must not put the limit off for good.
	sweeping := false
	for {
		select {
		case <-ctx.Done():
			f.mu.Lock()
			f.limit = math.MaxInt64
			f.busy.room, f.busy.gogc = 0, f.busy.base
			f.apply(math.MaxInt64)
			f.mu.Unlock()
			return
		case <-f.collected:
			if !sweeping {
				sweeping = true
				sweep.Reset(f.sweepWait)
			}
		case now := <-sweep.C:
			sweeping = false
			f.mu.Lock()
			f.apply(f.follow(now, readHeap())) // the sweep is over
			f.mu.Unlock()
		case now := <-tick.C:
			f.mu.Lock()
			limit, changed, collect := f.tick(now, readHeap())
			if changed {
				f.apply(limit)
			}
			f.mu.Unlock()
			if collect {
				// Outside f.mu: the collection's end runs afterGC.
				runtime.GC()
			}
		}
	}
}

// armAfterGC has the runtime call the policy after the next collection,
// which re-arms it: a cleanup on an object nothing references runs once
// the collection that found it unreachable is over.
func (f *Follower) armAfterGC(ctx context.Context) {
	runtime.AddCleanup(new([64]byte), func(ctx context.Context) {
		if ctx.Err() != nil {
			return
		}
		f.mu.Lock()
		// Checked under the lock: Run's removal of the limit at the end
		// must not be overwritten by a collection that ended meanwhile.
		if ctx.Err() == nil {
			if limit, lifted := f.afterGC(time.Now(), readHeap()); lifted {
				f.apply(limit)
			} else {
				// Run follows once the sweep is over; a signal
				// already waiting does for this one.
				select {
				case f.collected <- struct{}{}:
				default:
				}
			}
		}
		f.mu.Unlock()
		f.armAfterGC(ctx)
	}, ctx)
}
