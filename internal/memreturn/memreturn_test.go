package memreturn

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestMemoryReturnerDue(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	tests := []struct {
		name   string
		sleeps int           // this many, spread evenly over
		over   time.Duration // this long from t0
		at     time.Duration // asked at t0 + at
		want   bool
	}{
		{"no hibernation", 0, 0, time.Hour, false},
		{"wave still going", 1000, 900 * ms, 1500 * ms, false},
		{"quiet second after the wave", 1000, 500 * ms, 1500 * ms, true},
		{"wave too small", 100, 500 * ms, 1500 * ms, false},
		{"endless wave, long enough", 1000, 31 * time.Second, 31 * time.Second, true},
		{"endless wave, not yet", 1000, 20 * time.Second, 20 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			m.lastReturn = t0.Add(-time.Hour)
			for i := range tt.sleeps {
				m.noteSleep(t0.Add(tt.over * time.Duration(i) / time.Duration(max(tt.sleeps-1, 1))))
			}
			if got := m.due(t0.Add(tt.at)); got != tt.want {
				t.Fatalf("due = %v, want %v", got, tt.want)
			}
			if !tt.want {
				return
			}
			// A second wave right after waits for the spacing.
			for range m.minSleeps {
				m.noteSleep(t0.Add(tt.at))
			}
			if m.due(t0.Add(tt.at + 2*time.Second)) {
				t.Fatal("due again within the spacing")
			}
			if !m.due(t0.Add(tt.at + m.spacing)) {
				t.Fatal("second wave not due after the spacing")
			}
		})
	}
}

// TestMemoryReturnerWaveTail: after a return in the middle of a long wave,
// the wave's tail is returned when the wave ends, however small.
func TestMemoryReturnerWaveTail(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	m := New()
	m.lastReturn = t0.Add(-time.Hour)
	for i := range 3100 {
		m.noteSleep(t0.Add(time.Duration(i) * 10 * time.Millisecond))
	}
	if !m.due(t0.Add(31 * time.Second)) {
		t.Fatal("a 31 s wave not returned")
	}
	for i := range 100 { // the tail: fewer than minSleeps
		m.noteSleep(t0.Add(31*time.Second + time.Duration(i)*time.Millisecond))
	}
	if m.due(t0.Add(33 * time.Second)) {
		t.Fatal("due within the spacing")
	}
	if !m.due(t0.Add(41 * time.Second)) {
		t.Fatal("the wave's tail not returned once it was over")
	}
	for range 100 { // a later trickle, not after a mid-wave return
		m.noteSleep(t0.Add(60 * time.Second))
	}
	if m.due(t0.Add(80 * time.Second)) {
		t.Fatal("a trickle of 100 sleeps after a quiet return was returned")
	}
}

// TestMemoryReturnerFollow: for a while after a wave's return, free heap
// that work after the wave left is returned again, spaced, and only when
// there is enough of it.
func TestMemoryReturnerFollow(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	var free uint64
	m := New()
	m.freeHeap = func() uint64 { return free }
	m.lastReturn = t0.Add(-time.Hour)
	free = 64 << 20
	if m.due(t0) {
		t.Fatal("due with free heap but no wave before")
	}
	for i := range 1000 {
		m.noteSleep(t0.Add(time.Duration(i) * time.Millisecond))
	}
	at := func(d time.Duration) time.Time { return t0.Add(2*time.Second + d) }
	if !m.due(at(0)) {
		t.Fatal("the wave not returned")
	}
	steps := []struct {
		after time.Duration
		free  uint64
		want  bool
	}{
		{time.Second, 64 << 20, false},      // within followSpacing
		{5 * time.Second, 512 << 10, false}, // too little free
		{6 * time.Second, 2 << 20, true},
		{8 * time.Second, 2 << 20, false}, // spacing again
		{11 * time.Second, 2 << 20, true},
		{31 * time.Second, 2 << 20, false}, // the follow-up is over
	}
	for _, s := range steps {
		free = s.free
		if got := m.due(at(s.after)); got != s.want {
			t.Fatalf("%v after the wave's return with %d KiB free: due = %v, want %v", s.after, s.free>>10, got, s.want)
		}
	}

	// Sessions still going to sleep (and waking) hold the follow-up off.
	m = New()
	m.freeHeap = func() uint64 { return 64 << 20 }
	m.lastReturn = t0.Add(-time.Hour)
	for i := range 1000 {
		m.noteSleep(t0.Add(time.Duration(i) * time.Millisecond))
	}
	if !m.due(at(0)) {
		t.Fatal("the wave not returned")
	}
	for i := range 10 { // fewer than minSleeps: no wave of their own
		m.noteSleep(at(time.Duration(i) * time.Second))
	}
	if m.due(at(12 * time.Second)) {
		t.Fatal("a follow-up return 3 s after the last hibernation")
	}
	if !m.due(at(14 * time.Second)) {
		t.Fatal("no follow-up return 5 s after the last hibernation")
	}
}

// TestMemoryReturnerReturns drops 64 MiB of garbage, as a wave of
// sleeping sessions does, and checks that the runtime really gives it
// back to the OS.
func TestMemoryReturnerReturns(t *testing.T) {
	released := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	garbage := make([][]byte, 64)
	for i := range garbage {
		garbage[i] = make([]byte, 1<<20)
		garbage[i][0] = 1
	}
	runtime.KeepAlive(garbage)
	garbage = nil
	before := released()
	New().returnMemory()
	if got := released() - before; got < 32<<20 {
		t.Fatalf("released %d MiB to the OS after dropping 64 MiB, want at least 32", got>>20)
	}
}

// TestMemoryReturnerJobDone: the end of a background job makes a return
// due at the next check, unless a return came within the spacing (then
// once the spacing has passed), and only once.
func TestMemoryReturnerJobDone(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		lastReturn time.Duration // before t0
		want       bool          // due at t0
	}{
		{"long after the last return", time.Hour, true},
		{"within the spacing", 3 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			m.lastReturn = t0.Add(-tt.lastReturn)
			if m.due(t0) {
				t.Fatal("due before any job ended")
			}
			m.NoteJobDone()
			if got := m.due(t0); got != tt.want {
				t.Fatalf("due = %v, want %v", got, tt.want)
			}
			if !tt.want && !m.due(t0.Add(m.spacing)) {
				t.Fatal("not due once the spacing passed")
			}
			if m.due(t0.Add(2 * m.spacing)) {
				t.Fatal("due again for the same job")
			}
		})
	}
}
