package imapserver

import (
	"testing"
	"time"
)

// TestLoginPenalty walks the failed-login penalty through its rules on a
// fake clock: the allowance, the doubling up to the maximum, forgiveness
// with time, the exemption of a user who logged in, and the bounded map.
func TestLoginPenalty(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	newPenalty := func() *loginPenalty {
		p := newLoginPenalty(Limits{
			LoginFailuresPerAddr: 4, LoginFailuresPerUser: 2,
			LoginFailureRefill: time.Minute, LoginPenaltyMax: 16 * time.Second,
		})
		p.now = func() time.Time { return now }
		return p
	}
	type step struct {
		fail  []string      // users failing from 10.0.0.1 first
		ok    string        // a user logging in from 10.0.0.1 then
		after time.Duration // time passing then
		user  string        // whose wait is checked, from 10.0.0.1
		want  time.Duration
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"within the allowances", []step{
			{fail: []string{"alice", "alice"}, user: "alice", want: 0},
			{fail: []string{"x", "y"}, user: "bob", want: 0},
		}},
		{"user+address doubles up to the max", []step{
			{fail: []string{"alice", "alice", "alice"}, user: "alice", want: 2 * time.Second},
			{user: "bob", want: 0}, // the address has 3 of its 4
			{fail: []string{"alice"}, user: "alice", want: 4 * time.Second},
			{fail: []string{"alice"}, user: "alice", want: 8 * time.Second},
			{fail: []string{"alice"}, user: "alice", want: 16 * time.Second},
			{fail: []string{"alice", "alice", "alice"}, user: "alice", want: 16 * time.Second},
		}},
		{"the address's penalty reaches every name", []step{
			{fail: []string{"a", "b", "c", "d", "e"}, user: "bob", want: 2 * time.Second},
			{fail: []string{"f", "g"}, user: "carol", want: 8 * time.Second},
		}},
		{"failures are forgiven with time", []step{
			{fail: []string{"a", "b", "c", "d", "e", "f"}, user: "bob", want: 4 * time.Second},
			{after: time.Minute, user: "bob", want: 2 * time.Second},
			{after: time.Minute, user: "bob", want: 0},
		}},
		{"a user who logged in is exempt from the address's penalty", []step{
			{ok: "bob", fail: []string{"a", "b", "c", "d", "e", "f"}, user: "bob", want: 0},
			{user: "carol", want: 4 * time.Second},
			// but not from guesses at its own password
			{fail: []string{"bob", "bob", "bob"}, user: "bob", want: 2 * time.Second},
		}},
		{"a login forgives the user's own failures", []step{
			{fail: []string{"alice", "alice", "alice", "alice"}, user: "alice", want: 4 * time.Second},
			{ok: "alice", user: "alice", want: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPenalty()
			for i, s := range tt.steps {
				if s.ok != "" {
					p.succeeded("10.0.0.1", s.ok)
				}
				for _, u := range s.fail {
					p.failed("10.0.0.1", u)
				}
				now = now.Add(s.after)
				if got, _ := p.delay("10.0.0.1", s.user); got != s.want {
					t.Errorf("step %d: %s waits %s, want %s", i, s.user, got, s.want)
				}
				if got, _ := p.delay("10.0.0.2", s.user); got != 0 {
					t.Errorf("step %d: %s from another address waits %s", i, s.user, got)
				}
			}
		})
	}

	t.Run("one report a minute per address", func(t *testing.T) {
		p := newPenalty()
		for range 6 {
			p.failed("10.0.0.1", "x")
		}
		reports := 0
		for range 100 {
			if _, r := p.delay("10.0.0.1", "y"); r != nil {
				reports++
			}
		}
		now = now.Add(penaltyLogEvery)
		_, r := p.delay("10.0.0.1", "y")
		if reports != 1 || r == nil || r.delayed != 100 {
			t.Errorf("reports %d, then %+v; want 1, then one counting the 100 waits since", reports, r)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		p := newPenalty()
		p.maxKeys = 100
		for i := range 1000 {
			p.failed("10.0.0.1", string(rune('a'+i%26))+string(rune(i)))
		}
		if n := len(p.entries); n > p.maxKeys {
			t.Errorf("%d entries held, want at most %d", n, p.maxKeys)
		}
	})
}
