package memreturn

import (
	"math"
	"time"
)

// busyRoom gives a busy server heap room in proportion to how fast it
// allocates, so that collections come about pace apart however small its
// live heap. GOGC alone sizes the room by the live heap: a server busy
// with a few sessions (the active workload of bench/compare: 3-5 MB live,
// 250 MB allocated a second) collected 60 times a second, each
// collection's marking taking CPU from the commands on a 2-core machine
// (docs/benchmarks.md, "The active workload's p99 at `delayed`").
//
// The room is given while the allocation rate asks for more than GOGC
// gives (the live heap and the roots times GOGC/100): GOGC is raised so
// that the heap goal is the live heap plus the room, and the Follower's
// limit leaves as much above what the process holds. A tick that finds
// the rate since the last collection fallen below that gives it back:
// GOGC as it was, the limit following the heap again, and one collection
// of the room's garbage (a server gone quiet may not collect for
// minutes). A fleet of sleepers, whose live heap is larger and whose
// allocation is slower, never gets any.
type busyRoom struct {
	pace    time.Duration // collections about this far apart while busy
	maxRoom uint64        // and never more room than this
	base    int           // GOGC when not busy: the operator's, or 100

	allocs uint64    // bytes allocated since the start, at the last collection
	at     time.Time // the end of that collection (zero before the first)
	room   uint64    // the room given now: 0 when not busy
	gogc   int       // the GOGC that gives it (base when not busy)
}

// newBusyRoom returns the seam's policy with the measured settings:
// collections 100 ms apart (the Follower's minInterval: faster is a
// burst), at most 16 MiB of room (64 MiB let a background search-index
// build, which allocates as fast, hold ~10 MiB more in bench/compare's
// large-mailbox rows, for no better p99 in the active workload:
// docs/benchmarks.md, "Flag changes and expunges"); base is the GOGC
// found at start.
func newBusyRoom(base int) busyRoom {
	return busyRoom{pace: 100 * time.Millisecond, maxRoom: 16 << 20, base: base, gogc: base}
}

// afterGC is the policy at the end of a collection at now: the room and
// GOGC for the allocation rate since the last collection.
func (b *busyRoom) afterGC(now time.Time, s heapState) {
	if !b.at.IsZero() {
		b.set(b.rate(now, s), s)
	}
	b.allocs, b.at = s.allocs, now
}

// tick is the policy between collections: the room ends when the
// allocation rate since the last collection no longer asks for it. It
// reports whether it ended.
func (b *busyRoom) tick(now time.Time, s heapState) bool {
	if b.room == 0 || b.at.IsZero() {
		return false
	}
	b.set(b.rate(now, s), s)
	return b.room == 0
}

// rate is the allocation rate since the last collection, in bytes a
// second.
func (b *busyRoom) rate(now time.Time, s heapState) float64 {
	d := now.Sub(b.at)
	if d <= 0 || s.allocs < b.allocs {
		return 0
	}
	return float64(s.allocs-b.allocs) / d.Seconds()
}

// set sets the room and GOGC for an allocation rate.
func (b *busyRoom) set(rate float64, s heapState) {
	b.room, b.gogc = 0, b.base
	if b.base <= 0 {
		return // collection off (GOGC=off): the operator's choice stands
	}
	want := min(rate*b.pace.Seconds(), float64(b.maxRoom))
	roots := max(float64(s.live+s.roots), 1)
	if want <= roots*float64(b.base)/100 {
		return // GOGC gives as much
	}
	b.room = uint64(want)
	b.gogc = int(min(math.Ceil(100*want/roots), math.MaxInt32))
}
