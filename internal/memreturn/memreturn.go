// Package memreturn gives back to the OS the heap that hibernated
// sessions freed, once a wave of hibernations is over, and the heap a
// background job (a search-index build) left. It is the daemon's memory
// policy (cmd/dormouse turns it on); the IMAP server only reports each
// hibernation and each such job's end. Beside it, a Follower keeps the
// runtime's soft memory limit a little above the heap of a server that
// keeps serving, lifted during bursts (limit.go).
//
// Measured against the runtime's own means (docs/benchmarks.md, "Memory
// after hibernation"): with no memory limit, 10,000 sleepers kept 147–288
// MiB resident 20 s after their ramp and 1,016 MiB after 20,000 wakes,
// against 26–32 and 42 MiB with the returner; a 64 MiB soft limit kept
// ~70 MiB but cost 5× the CPU per wake.
package memreturn

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Returner gives back to the OS the heap that hibernated sessions
// freed. Go alone is slow to do it: the background scavenger keeps what
// the last collection's heap goal allows, and a server whose connections
// all went to sleep allocates so little that no collection runs until the
// runtime forces one two minutes later. Until then every session that
// slept still costs its buffers and view in resident memory, where a
// Dovecot imap process that hibernated has exited. So after a wave of
// hibernations has passed, the hibernator collects and returns the free
// heap at once, if the wave was big enough to be worth a collection.
//
// A wave leaves work behind it that frees more (the store's rescans of
// the users who just arrived, indexes closing after their linger), and a
// collection that work triggers leaves what it freed with the runtime.
// For a while after a wave's return, free heap above a threshold is
// returned again.
type Returner struct {
	mu sync.Mutex // NoteSleep comes from every hibernating session

	quiet     time.Duration // no hibernation for this long ends a wave
	longest   time.Duration // return within this long even if waves go on
	minSleeps int           // fewer hibernations are not worth a collection
	spacing   time.Duration // at least this long between two returns

	slept      int       // hibernations since the last return
	firstSleep time.Time // the first of them
	lastSleep  time.Time // the last of them
	lastReturn time.Time
	// After a return at the end of a wave, until followUntil, free heap
	// of followBytes or more is returned again, followSpacing apart and
	// after no hibernation for as long.
	follow        time.Duration
	followSpacing time.Duration
	followBytes   uint64
	followUntil   time.Time
	freeHeap      func() uint64 // free heap not yet returned to the OS
	// midWave is set when the last return came before its wave was over:
	// the sessions that slept after it are returned when the wave ends,
	// however few, since those still awake at the return were the end of
	// the wave (the last second of a ramp: hundreds of sessions).
	midWave bool
	// jobDone is set by NoteJobDone: a background job's heap is due for
	// return (after the spacing).
	jobDone bool
}

// New returns a Returner with the thresholds measured on the benchmarks.
func New() *Returner {
	// Each session that sleeps frees at least its goroutine stack and
	// buffers, ~14 KB: 256 of them are a few MiB.
	return &Returner{
		quiet:         time.Second,
		longest:       30 * time.Second,
		minSleeps:     256,
		spacing:       10 * time.Second,
		follow:        30 * time.Second,
		followSpacing: 5 * time.Second,
		followBytes:   1 << 20,
		freeHeap:      freeHeap,
	}
}

// freeHeap reads the runtime's free heap that it has not returned.
func freeHeap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// NoteSleep notes one hibernation at now. Safe for concurrent use.
func (m *Returner) NoteSleep(now time.Time) {
	m.mu.Lock()
	m.noteSleep(now)
	m.mu.Unlock()
}

// NoteJobDone notes the end of a background job that read much and
// kept little (a search-index build: every message read and parsed): the
// garbage let the heap grow to the collector's goal above all that is
// live, and the runtime would keep that size long after. Its free heap
// is returned at the next check the spacing allows. Safe for concurrent
// use.
func (m *Returner) NoteJobDone() {
	m.mu.Lock()
	m.jobDone = true
	m.mu.Unlock()
}

// Run checks every second, until ctx ends, whether a wave of hibernations
// is over, and then collects and returns the free heap, calling returned
// after each return.
func (m *Returner) Run(ctx context.Context, returned func()) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			m.mu.Lock()
			due := m.due(now)
			m.mu.Unlock()
			if due {
				m.returnMemory()
				if returned != nil {
					returned()
				}
			}
		}
	}
}

// noteSleep notes one hibernation at now.
func (m *Returner) noteSleep(now time.Time) {
	if m.slept == 0 {
		m.firstSleep = now
	}
	m.slept++
	m.lastSleep = now
}

// due reports whether enough hibernations wait to have their memory
// returned and the wave they came in is over (or has lasted long enough),
// or a wave's return is followed by enough free heap, or a background
// job ended; when it does, it forgets the hibernations (and the job) and
// the caller should call returnMemory.
func (m *Returner) due(now time.Time) bool {
	if m.waveDue(now) {
		m.jobDone = false // returned with the wave
		return true
	}
	if m.jobDone && now.Sub(m.lastReturn) >= m.spacing {
		m.jobDone = false
		m.lastReturn = now
		return true
	}
	// Only while no session goes to sleep: a server cycling sessions
	// through wakes would fault in again what each return gives back.
	if now.Before(m.followUntil) && now.Sub(m.lastReturn) >= m.followSpacing &&
		now.Sub(m.lastSleep) >= m.followSpacing && m.freeHeap() >= m.followBytes {
		m.lastReturn = now
		return true
	}
	return false
}

// waveDue is due for a wave of hibernations.
func (m *Returner) waveDue(now time.Time) bool {
	if m.slept == 0 || (m.slept < m.minSleeps && !m.midWave) || now.Sub(m.lastReturn) < m.spacing {
		return false
	}
	quiet := now.Sub(m.lastSleep) >= m.quiet
	if !quiet && now.Sub(m.firstSleep) < m.longest {
		return false
	}
	m.slept = 0
	m.lastReturn = now
	m.midWave = !quiet
	if quiet {
		m.followUntil = now.Add(m.follow)
	}
	return true
}

// returnMemory collects and returns the free heap to the OS. It blocks
// for one collection: it runs outside any lock.
func (m *Returner) returnMemory() {
	// FreeOSMemory collects first: the sessions' memory is garbage that
	// no collection has seen yet, so it is not even free until then. The
	// collection before it empties the sync.Pools' victim caches, which
	// survive one collection.
	runtime.GC()
	debug.FreeOSMemory()
}
