package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestTorture is the bounded run: 6 clients for about 20 s against the
// dormouse binary with hibernation after 50 ms, LMTP deliveries, and a
// SIGKILL and restart in each of the 4 phases. It fails on any violation,
// and if some operation kind, the faults or hibernation never happened.
func TestTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20-second load run")
	}
	cfg := config{
		duration: 20 * time.Second, phase: 5 * time.Second, clients: 6, kill: true,
		hibernateAfter: 50 * time.Millisecond, deliverEvery: 20 * time.Millisecond,
		seed: uint64(time.Now().UnixNano()),
	}
	var log bytes.Buffer
	res, err := run(context.Background(), cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	var out bytes.Buffer
	res.print(&out)
	t.Logf("\n%s", out.String())
	if len(res.violations) > 0 {
		t.Fatalf("%d violations (seed %d)\n%s", len(res.violations), res.seed, log.String())
	}
	for _, kind := range []string{"APPEND", "STORE", "COPY", "MOVE", "EXPUNGE", "FETCH", "SEARCH", "IDLE", "LMTP"} {
		if res.ops[kind] == 0 {
			t.Errorf("no %s done", kind)
		}
	}
	if res.faults != 4 || res.checkpoints != 4 {
		t.Errorf("%d faults and %d checkpoints, want 4 and 4", res.faults, res.checkpoints)
	}
	if res.hibernations == 0 || res.wakes == 0 {
		t.Errorf("hibernations %v, wakes %v: the IDLEs never hibernated", res.hibernations, res.wakes)
	}
}

// TestModelFindsViolations feeds the model stores that break each
// invariant and checks that it reports it: a checker that cannot fail
// proves nothing.
func TestModelFindsViolations(t *testing.T) {
	msgs := func(ms ...message) []message { return ms }
	tests := []struct {
		name  string
		setup func(m *model)
		store []message
		want  string // "" for no violation
	}{{
		name:  "all there",
		setup: func(m *model) { m.Created(key{"A", 1}, "x") },
		store: msgs(message{uid: 1, id: "x", modseq: 5}),
	}, {
		name:  "acknowledged and lost",
		setup: func(m *model) { m.Created(key{"A", 1}, "x") },
		want:  "acknowledged and lost",
	}, {
		name:  "lost but its removal was cut short by a crash",
		setup: func(m *model) { m.Created(key{"A", 1}, "x"); m.Uncertain(nil, []key{{"A", 1}}) },
	}, {
		name:  "unexplained message",
		store: msgs(message{uid: 1, id: "x"}),
		want:  "no acknowledged operation",
	}, {
		name:  "unacknowledged APPEND cut short by a crash",
		setup: func(m *model) { m.Uncertain([]string{"x"}, nil) },
		store: msgs(message{uid: 1, id: "x"}),
	}, {
		name:  "expunged and back",
		setup: func(m *model) { m.Created(key{"A", 1}, "x"); m.Expunged([]key{{"A", 1}}) },
		store: msgs(message{uid: 1, id: "x"}),
		want:  "was removed and is back",
	}, {
		name:  "moved and still in the source",
		setup: func(m *model) { m.Created(key{"A", 1}, "x"); m.Copied("A", "B", []uint32{1}, []uint32{7}, true) },
		store: msgs(message{uid: 1, id: "x"}),
		want:  "was removed and is back",
	}, {
		name:  "UID reused",
		setup: func(m *model) { m.Created(key{"A", 1}, "x") },
		store: msgs(message{uid: 1, id: "y"}),
		want:  "UID reused",
	}, {
		name:  "listed twice",
		setup: func(m *model) { m.Created(key{"A", 1}, "x") },
		store: msgs(message{uid: 1, id: "x"}, message{uid: 1, id: "x"}),
		want:  "listed twice",
	}, {
		name: "MODSEQ back",
		setup: func(m *model) {
			m.Created(key{"A", 1}, "x")
			m.CheckStore("A", 1, 9, msgs(message{uid: 1, id: "x", modseq: 9}))
		},
		store: msgs(message{uid: 1, id: "x", modseq: 4}),
		want:  "MODSEQ went back",
	}, {
		name:  "UIDVALIDITY changed",
		setup: func(m *model) { m.CheckStore("A", 7, 0, nil) },
		want:  "UIDVALIDITY changed",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newModel()
			if tt.setup != nil {
				tt.setup(m)
			}
			highest := uint64(10)
			m.CheckStore("A", 1, highest, tt.store)
			got := strings.Join(m.Violations(), "\n")
			switch {
			case tt.want == "" && got != "":
				t.Fatalf("violations: %s", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Fatalf("violations %q, want one with %q", got, tt.want)
			}
		})
	}
	// An LMTP delivery never found.
	m := newModel()
	m.Delivered("lmtp-1")
	m.CheckStore("INBOX", 1, 1, nil)
	m.CheckDeliveries()
	if v := m.Violations(); len(v) != 1 || !strings.Contains(v[0], "never found") {
		t.Fatalf("lost delivery: %q", v)
	}
	// A client view that missed an EXPUNGE.
	v := view{uids: []uint32{1, 2}, flags: map[uint32]string{1: "", 2: `\Seen`}}
	if d := viewDiff(v, msgs(message{uid: 2, flags: `\Seen`})); d == "" {
		t.Fatal("viewDiff missed a lost EXPUNGE")
	}
	if d := viewDiff(v, msgs(message{uid: 1}, message{uid: 2, flags: `\Seen`})); d != "" {
		t.Fatalf("viewDiff of equal views: %s", d)
	}
}
