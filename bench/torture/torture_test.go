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

// TestSessionChecksFindViolations feeds a session's checks the responses
// of a server that breaks each per-session invariant: each
// must be reported, and the consistent answers must not be.
func TestSessionChecksFindViolations(t *testing.T) {
	session := func() *imapConn {
		c := &imapConn{selected: "INBOX"}
		c.view = view{uids: []uint32{1, 2, 3}, flags: map[uint32]string{1: `\Flagged`, 2: "", 3: `\Seen`}, recent: map[uint32]bool{}}
		return c
	}
	searchFor := func(k string) searchKey {
		for _, sk := range searchKeys {
			if sk.key == k {
				return sk
			}
		}
		t.Fatalf("no search key %q", k)
		return searchKey{}
	}
	tests := []struct {
		name  string
		key   string   // a SEARCH key whose answer is checked
		lines []string // untagged responses, in order
		fetch bool     // checkFetched after the lines, for FETCH 1:3
		want  string   // "" for no violation
	}{
		{name: "SEARCH as the view", key: "FLAGGED", lines: []string{"* SEARCH 1"}},
		{name: "SEARCH misses a flagged message", key: "FLAGGED", lines: []string{"* SEARCH"}, want: "inconsistent with the session's view"},
		{name: "SEARCH finds an unflagged one", key: "FLAGGED", lines: []string{"* SEARCH 1 2"}, want: "inconsistent"},
		{name: "SEARCH after a flag update", key: "UNSEEN", lines: []string{`* 2 FETCH (FLAGS (\Seen))`, "* SEARCH 1"}},
		// A stress client: message 2, expunged by another session and not
		// announced, missing from a header search.
		{name: "header SEARCH blind to a message the session has", key: "SUBJECT torture", lines: []string{"* SEARCH 1 3"}, want: "inconsistent"},
		{name: "SEARCH names a message the session lacks", key: "SUBJECT torture", lines: []string{"* SEARCH 1 2 3 4"}, want: "the session has 3 messages"},
		{name: "SEARCH RECENT", key: "RECENT", lines: []string{`* 3 FETCH (UID 3 FLAGS (\Seen \Recent))`, "* SEARCH 3"}},
		{name: "SEARCH RECENT misses one", key: "RECENT", lines: []string{`* 3 FETCH (UID 3 FLAGS (\Seen \Recent))`, "* SEARCH"}, want: "inconsistent"},
		{name: "\\Recent lost", lines: []string{`* 3 FETCH (UID 3 FLAGS (\Recent))`, `* 3 FETCH (UID 3 FLAGS ())`}, want: "lost its \\Recent"},
		{name: "FETCH answers all", fetch: true, lines: []string{"* 1 FETCH (UID 1 FLAGS ())", "* 2 FETCH (UID 2 FLAGS ())", "* 3 FETCH (UID 3 FLAGS ())"}},
		// A stress client: FETCH of a message expunged elsewhere answered
		// OK [EXPUNGEISSUED] with no data.
		{name: "FETCH skips a message the session has", fetch: true, lines: []string{"* 1 FETCH (UID 1 FLAGS ())", "* 3 FETCH (UID 3 FLAGS ())"}, want: "did not answer message 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := session()
			if tt.key != "" {
				sk := searchFor(tt.key)
				c.expectSearch = &sk
			}
			if tt.fetch {
				c.fetched = map[int]bool{}
			}
			for _, l := range tt.lines {
				c.untagged(l)
			}
			if tt.fetch {
				c.checkFetched(3, "UID FLAGS", "OK [EXPUNGEISSUED] done")
			}
			got := strings.Join(c.bad, "\n")
			switch {
			case tt.want == "" && got != "":
				t.Fatalf("violations: %s", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Fatalf("violations %q, want one with %q", got, tt.want)
			}
		})
	}

	// \Recent in two sessions (a stress client: "Message UID=25071 has \Recent
	// flag in multiple sessions: 16 and 12"), through the session's
	// FETCH responses; not after a restart, which forgets unwritten claims.
	m := newModel()
	a, b := session(), session()
	a.onRecent = func(mb string, uid uint32) { m.Recent(key{mb, uid}, 16) }
	b.onRecent = func(mb string, uid uint32) { m.Recent(key{mb, uid}, 12) }
	a.untagged(`* 3 FETCH (UID 3 FLAGS (\Seen \Recent))`)
	a.untagged(`* 3 FETCH (UID 3 FLAGS (\Recent))`) // the same session again: fine
	if v := m.Violations(); len(v) != 0 {
		t.Fatalf("one session: %q", v)
	}
	b.untagged(`* 3 FETCH (UID 3 FLAGS (\Recent \Seen))`)
	if v := m.Violations(); len(v) != 1 || !strings.Contains(v[0], "UID=3 has \\Recent flag in multiple sessions: 16 and 12") {
		t.Fatalf("two sessions: %q", v)
	}
	m = newModel()
	m.Recent(key{"INBOX", 3}, 16)
	m.NewLife()
	m.Recent(key{"INBOX", 3}, 12)
	if v := m.Violations(); len(v) != 0 {
		t.Fatalf("after a restart: %q", v)
	}
}
