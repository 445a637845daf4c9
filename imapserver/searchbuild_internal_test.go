package imapserver

import (
	"log/slog"
	"slices"
	"testing"
	"time"
)

// TestSearchBuildClaim: a search that finds a build of its index queued
// moves it to the front and reads rather than index (inHand); the first
// search of a build running or queued is told so (first), the ones after
// it are not; an index no build holds is the search's to bring up to date.
func TestSearchBuildClaim(t *testing.T) {
	b := newSearchBuilder(nil, slog.New(slog.DiscardHandler), nil)
	b.current = "a"
	for _, dir := range []string{"b", "c", "d"} {
		b.queue = append(b.queue, searchJob{dir: dir})
		b.pending[dir] = true
	}
	steps := []struct {
		dir           string
		inHand, first bool
		queue         []string // the queue's dirs after the claim
	}{
		{"a", true, true, []string{"b", "c", "d"}},
		{"a", true, false, []string{"b", "c", "d"}},
		{"d", true, true, []string{"d", "b", "c"}},
		{"c", true, true, []string{"c", "d", "b"}},
		{"d", true, false, []string{"d", "c", "b"}},
		{"x", false, false, []string{"d", "c", "b"}},
	}
	for i, st := range steps {
		inHand, first := b.claim(st.dir)
		var queue []string
		for _, j := range b.queue {
			queue = append(queue, j.dir)
		}
		if inHand != st.inHand || first != st.first || !slices.Equal(queue, st.queue) {
			t.Fatalf("step %d: claim(%q) = %v, %v, queue %v; want %v, %v, %v", i, st.dir, inHand, first, queue, st.inHand, st.first, st.queue)
		}
	}
	var nilBuilder *searchBuilder
	if inHand, first := nilBuilder.claim("a"); inHand || first {
		t.Fatal("a nil builder holds an index")
	}
}

// TestSearchBuildHold: while a search holds the build, the build's next
// step waits; it goes on once every hold is released, or stops at stop.
func TestSearchBuildHold(t *testing.T) {
	b := newSearchBuilder(nil, slog.New(slog.DiscardHandler), nil)
	if err := b.yield(); err != nil {
		t.Fatalf("yield without a hold: %v", err)
	}
	release1, release2 := b.hold(), b.hold()
	yielded := make(chan error, 1)
	go func() { yielded <- b.yield() }()
	release1()
	select {
	case err := <-yielded:
		t.Fatalf("the build went on under a hold (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	release2()
	if err := <-yielded; err != nil {
		t.Fatalf("yield after the holds: %v", err)
	}

	defer b.hold()()
	go func() { yielded <- b.yield() }()
	b.stop()
	if err := <-yielded; err == nil {
		t.Fatal("a held build went on after stop without an error")
	}
}
