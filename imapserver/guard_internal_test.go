package imapserver

import (
	"testing"
	"time"
)

// TestPreAuthRefusalReports: refusals of one address are reported for one
// log line a minute, each line counting the refusals since the last; other
// addresses and admissions are unaffected.
func TestPreAuthRefusalReports(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	type step struct {
		addr       string
		at         time.Duration
		wantOK     bool
		wantReport int
	}
	steps := []step{
		{"a", 0, true, 0},
		{"a", 0, true, 0},
		{"a", time.Second, false, 1},       // the first refusal is logged at once
		{"a", 2 * time.Second, false, 0},   // then quiet for a minute...
		{"a", 30 * time.Second, false, 0},  // ...
		{"b", 31 * time.Second, true, 0},   // another address is admitted
		{"a", 61 * time.Second, false, 3},  // a minute on: this one and the two held back
		{"a", 62 * time.Second, false, 0},  // quiet again
		{"a", 122 * time.Second, false, 2}, // and so on
	}
	l := newPreAuthLimiter(2)
	for i, s := range steps {
		ok, report := l.acquire(s.addr, t0.Add(s.at))
		if ok != s.wantOK || report != s.wantReport {
			t.Fatalf("step %d (%s at %v): acquire = %v, %d; want %v, %d", i, s.addr, s.at, ok, report, s.wantOK, s.wantReport)
		}
	}
	// Releasing every connection of an address forgets it.
	l.release("a")
	l.release("a")
	l.release("b")
	if len(l.byAddr) != 0 {
		t.Fatalf("after every release: %d addresses kept", len(l.byAddr))
	}
}
