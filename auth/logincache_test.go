package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestLoginCache(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	alice := account{name: "alice", hash: "{BLF-CRYPT}a1"}
	tests := []struct {
		name  string
		check func(c *loginCache) bool // reports whether the check hit
		want  bool
	}{
		{"same password, same hash", func(c *loginCache) bool { return c.verified(alice, "pw", t0.Add(time.Minute)) }, true},
		{"wrong password", func(c *loginCache) bool { return c.verified(alice, "pW", t0) }, false},
		{"changed hash", func(c *loginCache) bool {
			return c.verified(account{name: "alice", hash: "{BLF-CRYPT}a2"}, "pw", t0)
		}, false},
		{"at the TTL", func(c *loginCache) bool { return c.verified(alice, "pw", t0.Add(time.Hour)) }, false},
		{"line changed in the file", func(c *loginCache) bool {
			c.dropChanged(map[string]account{"alice": {name: "alice", hash: "{BLF-CRYPT}a2"}})
			return c.verified(alice, "pw", t0)
		}, false},
		{"line unchanged in the file", func(c *loginCache) bool {
			c.dropChanged(map[string]account{"alice": alice})
			return c.verified(alice, "pw", t0)
		}, true},
		{"user gone from the file", func(c *loginCache) bool {
			c.dropChanged(map[string]account{})
			return c.verified(alice, "pw", t0)
		}, false},
		{"flushed", func(c *loginCache) bool {
			c.flush()
			return c.verified(alice, "pw", t0)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newLoginCache(CacheLimits{TTL: time.Hour, MaxEntries: 10})
			if err != nil {
				t.Fatal(err)
			}
			c.remember(alice, "pw", t0)
			if got := tt.check(c); got != tt.want {
				t.Errorf("hit = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoginCacheBounded(t *testing.T) {
	now := time.Now()
	c, err := newLoginCache(CacheLimits{TTL: time.Hour, MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		c.remember(account{name: fmt.Sprint("u", i), hash: "h"}, "pw", now)
	}
	if n := len(c.entries); n != 3 {
		t.Errorf("%d entries, want the bound, 3", n)
	}
	if !c.verified(account{name: "u9", hash: "h"}, "pw", now) {
		t.Error("the last user remembered was evicted")
	}
}

// An entry is a MAC under a key drawn for each cache: two processes
// remembering the same password hold different values, so an entry
// leaked from one cannot be checked against guesses elsewhere.
func TestLoginCacheKeyIsRandom(t *testing.T) {
	acct := account{name: "alice", hash: "h"}
	var macs [2][32]byte
	for i := range macs {
		c, err := newLoginCache(CacheLimits{TTL: time.Hour, MaxEntries: 1})
		if err != nil {
			t.Fatal(err)
		}
		c.remember(acct, "correct horse battery staple", time.Now())
		macs[i] = c.entries["alice"].mac
	}
	if macs[0] == macs[1] {
		t.Error("two caches hold the same value: the key is not random")
	}
}
