package hibernate

import (
	"fmt"
	"time"
)

// Keepalive is the one shared timer behind every sleeping connection's
// "* OK Still here" (RFC 2177 says clients re-issue IDLE within 29
// minutes, but NAT boxes forget a silent mapping sooner): a hashed timing
// wheel of tick-sized slots, each slot a list threaded through a
// pointer-free slice by id. Scheduling and cancelling are O(1); a tick
// costs the number of ids in its slot. A million sleepers need no timers
// of their own, only a ticker (or one time.Timer set to NextDue) that
// calls AppendDue.
//
// Times are kept as whole ticks since an epoch, rounded up, so an id is
// never reported early. It is not safe for concurrent use.
type Keepalive struct {
	tick  time.Duration
	epoch time.Time
	slots []uint32 // head id per slot, noIndex when empty
	links []link   // by id
	due   []uint32 // by id: due tick; dueNone when not scheduled
	next  uint32   // the first tick AppendDue has not yet processed
}

const dueNone = ^uint32(0)

// NewKeepalive returns a wheel of ticks of tick length whose slots span
// horizon (a due time further out costs an extra look per turn, nothing
// more), starting at epoch. capacity sizes the per-id arrays.
func NewKeepalive(tick, horizon time.Duration, epoch time.Time, capacity int) (*Keepalive, error) {
	if tick <= 0 || horizon < tick {
		return nil, fmt.Errorf("hibernate: keepalive wheel: tick %v, horizon %v", tick, horizon)
	}
	n := int(horizon/tick) + 1
	k := &Keepalive{
		tick:  tick,
		epoch: epoch,
		slots: make([]uint32, n),
		links: make([]link, 0, capacity),
		due:   make([]uint32, 0, capacity),
	}
	for i := range k.slots {
		k.slots[i] = noIndex
	}
	return k, nil
}

// Tick returns the wheel's granularity, the period of a ticker driving it.
func (k *Keepalive) Tick() time.Duration { return k.tick }

// tickOf returns the tick at or after t.
func (k *Keepalive) tickOf(t time.Time) uint32 {
	d := t.Sub(k.epoch)
	if d <= 0 {
		return 0
	}
	n := (d + k.tick - 1) / k.tick
	if n >= time.Duration(dueNone) {
		return dueNone - 1
	}
	return uint32(n)
}

// Schedule sets id's keepalive due at t, replacing any earlier schedule.
// A time already past is reported by the next AppendDue.
func (k *Keepalive) Schedule(id uint32, at time.Time) {
	k.Cancel(id)
	for int(id) >= len(k.due) {
		k.links = append(k.links, link{noIndex, noIndex})
		k.due = append(k.due, dueNone)
	}
	t := k.tickOf(at)
	if t < k.next {
		t = k.next
	}
	k.due[id] = t
	s := &k.slots[t%uint32(len(k.slots))]
	k.links[id] = link{next: *s, prev: noIndex}
	if *s != noIndex {
		k.links[*s].prev = id
	}
	*s = id
}

// Cancel unschedules id; it is harmless if id is not scheduled.
func (k *Keepalive) Cancel(id uint32) {
	if int(id) >= len(k.due) || k.due[id] == dueNone {
		return
	}
	l := k.links[id]
	if l.prev != noIndex {
		k.links[l.prev].next = l.next
	} else {
		k.slots[k.due[id]%uint32(len(k.slots))] = l.next
	}
	if l.next != noIndex {
		k.links[l.next].prev = l.prev
	}
	k.links[id] = link{noIndex, noIndex}
	k.due[id] = dueNone
}

// Due returns when id is due, and whether it is scheduled.
func (k *Keepalive) Due(id uint32) (time.Time, bool) {
	if int(id) >= len(k.due) || k.due[id] == dueNone {
		return time.Time{}, false
	}
	return k.epoch.Add(time.Duration(k.due[id]) * k.tick), true
}

// AppendDue unschedules every id due at or before now and appends it to
// dst. The caller writes the keepalive and schedules the id again. An id
// scheduled for a time already processed is reported one tick late.
func (k *Keepalive) AppendDue(dst []uint32, now time.Time) []uint32 {
	d := now.Sub(k.epoch)
	if d < 0 {
		return dst
	}
	end := uint64(d / k.tick) // the last whole tick reached
	if end >= uint64(dueNone) {
		end = uint64(dueNone) - 1
	}
	if end < uint64(k.next) {
		return dst
	}
	n := uint64(len(k.slots))
	first := uint64(k.next)
	if end-first >= n {
		first = end - n + 1 // after a long pause, one turn visits every slot
	}
	for t := first; t <= end; t++ {
		for id := k.slots[t%n]; id != noIndex; {
			next := k.links[id].next
			if uint64(k.due[id]) <= end {
				k.Cancel(id)
				dst = append(dst, id)
			}
			id = next
		}
	}
	k.next = uint32(end + 1)
	return dst
}

// NextDue returns the earliest due time, for a caller that sleeps on one
// time.Timer instead of ticking; ok is false when nothing is scheduled.
// It looks at most one turn of the wheel ahead.
func (k *Keepalive) NextDue() (at time.Time, ok bool) {
	n := uint32(len(k.slots))
	least := dueNone
	for i := range n {
		t := k.next + i
		for id := k.slots[t%n]; id != noIndex; id = k.links[id].next {
			least = min(least, k.due[id])
		}
		if least <= t {
			break // nothing in a later slot of this turn is due sooner
		}
	}
	if least == dueNone {
		return time.Time{}, false
	}
	return k.epoch.Add(time.Duration(least) * k.tick), true
}
