package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// CacheLimits bound the login cache (see PasswdFile.CacheLogins).
type CacheLimits struct {
	// TTL is how long a successful check is remembered; 0 turns the cache
	// off.
	TTL time.Duration
	// MaxEntries bounds the users remembered at once (one entry each).
	MaxEntries int
}

// CacheStats counts the login cache's answers since start.
type CacheStats struct {
	// Hits are logins accepted without the full hash check.
	Hits uint64
	// Misses are checks the cache could not answer: a user not remembered,
	// remembered too long ago or with another hash, or a wrong password.
	Misses uint64
}

// loginCache remembers successful password checks for a bounded time, like
// Dovecot's auth_cache, so that a client logging in again and again
// (webmail opens a connection per page) costs an HMAC instead of a bcrypt.
//
// It holds no password: an entry is HMAC-SHA256, under a key drawn at
// random for this process and never stored, of the user's name and
// password. An entry is only good against the passwd-file hash it was
// checked against: a changed line misses at once, and entries of users
// whose line changed or went are dropped when the file is re-read.
type loginCache struct {
	key    []byte
	limits CacheLimits

	mu      sync.Mutex
	entries map[string]cacheEntry // by name as the passwd-file spells it

	hits, misses atomic.Uint64
}

type cacheEntry struct {
	mac     [sha256.Size]byte
	hash    string // the "{SCHEME}hash" the password was checked against
	expires time.Time
}

func newLoginCache(l CacheLimits) (*loginCache, error) {
	key := make([]byte, sha256.Size)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("login cache key: %w", err)
	}
	return &loginCache{key: key, limits: l, entries: make(map[string]cacheEntry)}, nil
}

// mac returns the HMAC of name and password. The name's length comes
// first, so no two (name, password) pairs give the same input.
func (c *loginCache) mac(name, password string) [sha256.Size]byte {
	h := hmac.New(sha256.New, c.key)
	var n [8]byte
	for i := range n {
		n[i] = byte(uint64(len(name)) >> (8 * i))
	}
	h.Write(n[:])
	h.Write([]byte(name))
	h.Write([]byte(password))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// verified reports whether password was found correct for acct, with the
// same hash, less than TTL ago.
func (c *loginCache) verified(acct account, password string, now time.Time) bool {
	c.mu.Lock()
	e, ok := c.entries[acct.name]
	if ok && !now.Before(e.expires) {
		delete(c.entries, acct.name)
		ok = false
	}
	c.mu.Unlock()
	if ok && e.hash == acct.hash {
		sum := c.mac(acct.name, password)
		if hmac.Equal(sum[:], e.mac[:]) {
			c.hits.Add(1)
			return true
		}
	}
	c.misses.Add(1)
	return false
}

// remember records that password is correct for acct.
func (c *loginCache) remember(acct account, password string, now time.Time) {
	e := cacheEntry{mac: c.mac(acct.name, password), hash: acct.hash, expires: now.Add(c.limits.TTL)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[acct.name]; !ok && len(c.entries) >= c.limits.MaxEntries {
		// Full: forget one user, whichever the map gives first; that user
		// pays one full check at the next login.
		for name := range c.entries {
			delete(c.entries, name)
			break
		}
	}
	c.entries[acct.name] = e
}

// dropChanged forgets the users whose line is no longer in users, or whose
// hash changed.
func (c *loginCache) dropChanged(users map[string]account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, e := range c.entries {
		if a, ok := users[name]; !ok || a.hash != e.hash {
			delete(c.entries, name)
		}
	}
}

// flush forgets everything.
func (c *loginCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}
