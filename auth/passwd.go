// Package auth checks passwords against a Dovecot-style passwd-file and
// manages the users in it.
//
// A line has the form
//
//	name:{SCHEME}hash[:uid:gid:gecos:home:shell:extra]
//
// where only the first two fields are used; the rest is kept as written when
// the file is rewritten. Blank lines and lines starting with '#' are kept
// too. The schemes understood are BLF-CRYPT (also spelled BCRYPT) and
// ARGON2ID, which are also written, and, for reading old files only,
// SHA512-CRYPT, SHA256-CRYPT (and CRYPT holding either), PLAIN and
// CLEARTEXT.
package auth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

// ErrBadCredentials is returned by Authenticate for an unknown user or a
// wrong password. The two are deliberately not told apart.
var ErrBadCredentials = errors.New("invalid credentials")

// ErrNoUser is returned by DeleteUser and SetPassword for a user not in the file.
var ErrNoUser = errors.New("no such user")

// ErrUserExists is returned by AddUser for a user already in the file.
var ErrUserExists = errors.New("user already exists")

// ErrBadName is returned for a user name that cannot be stored safely.
var ErrBadName = errors.New("invalid user name")

// PasswdFile is an open passwd-file. It re-reads the file when its
// modification time or size changes, so users added by `dormouse user add`
// can log in without a restart. Safe for concurrent use.
type PasswdFile struct {
	path string

	mu    sync.Mutex
	fi    os.FileInfo        // of the copy in users
	users map[string]account // by CanonicalName
	cache *loginCache        // nil: every login checks the hash

	// hashing holds a token for each password hash being checked. A
	// hash is tens of milliseconds of CPU (bcrypt cost 10: ~60 ms here);
	// a guesser firing dozens of logins at once would otherwise keep
	// every core busy, and every other connection's goroutine would wait
	// behind them in the run queue for hundreds of milliseconds. Half the
	// cores (at least one) may hash; the other checks wait their turn.
	hashing chan struct{}
}

// Open reads the passwd-file at path. A missing file is an error; an empty
// file is fine.
func Open(path string) (*PasswdFile, error) {
	p := &PasswdFile{path: path, hashing: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
	if err := p.reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// account is one line of the file.
type account struct {
	name string
	hash string // "{SCHEME}hash"
	// extra is the line's extra fields (extra.go), "" when it has none.
	extra string
}

// reload re-reads the file if it changed since the last read. Callers hold
// no lock.
func (p *PasswdFile) reload() error {
	fi, err := os.Stat(p.path)
	if err != nil {
		return fmt.Errorf("passwd-file: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Editors replace the file by rename, so a new inode means a new file
	// even when mtime and size look the same (same-length bcrypt hashes).
	if p.users != nil && os.SameFile(fi, p.fi) && fi.ModTime().Equal(p.fi.ModTime()) && fi.Size() == p.fi.Size() {
		return nil
	}
	data, err := os.ReadFile(p.path)
	if err != nil {
		return fmt.Errorf("passwd-file: %w", err)
	}
	lines, err := parse(data)
	if err != nil {
		return fmt.Errorf("passwd-file %s: %w", p.path, err)
	}
	users := make(map[string]account, len(lines))
	for _, l := range lines {
		if l.name == "" {
			continue
		}
		// The first of two lines whose names differ only in case wins,
		// as the first of two identical names does.
		key := CanonicalName(l.name)
		if _, dup := users[key]; !dup {
			users[key] = account{name: l.name, hash: l.hash, extra: l.extraFields()}
		}
	}
	p.users, p.fi = users, fi
	if p.cache != nil {
		p.cache.dropChanged(users)
	}
	return nil
}

// Authenticate checks username and password and returns the mail user's
// name, as the file spells it; username is compared by CanonicalName. A
// wrong name or password returns an error wrapping
// ErrBadCredentials; other errors mean the file could not be read.
func (p *PasswdFile) Authenticate(ctx context.Context, username, password string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := p.reload(); err != nil {
		// Keep serving from the last good copy: a half-edited file must not
		// lock everyone out.
		p.mu.Lock()
		ok := p.users != nil
		p.mu.Unlock()
		if !ok {
			return "", err
		}
	}
	p.mu.Lock()
	acct, found := p.users[CanonicalName(username)]
	cache := p.cache
	p.mu.Unlock()
	if !found {
		// Spend about as long as a real check so that timing does not tell
		// which names exist.
		_, _ = p.verify(ctx, dummyHash(), password)
		return "", fmt.Errorf("user %q: %w", username, ErrBadCredentials)
	}
	if cache != nil && cache.verified(acct, password, time.Now()) {
		return acct.name, nil
	}
	ok, err := p.verify(ctx, acct.hash, password)
	if err != nil {
		return "", fmt.Errorf("user %q: %w", username, err)
	}
	if !ok {
		return "", fmt.Errorf("user %q: %w", username, ErrBadCredentials)
	}
	if cache != nil {
		cache.remember(acct, password, time.Now())
	}
	// The file's own copy of the name, not the command's: a hibernated
	// user's long-lived records (disk watch, subscription) keep it, and
	// the command's copy sits among that command's garbage, where it
	// would keep a mostly empty page of the heap in use.
	return acct.name, nil
}

// CacheLogins turns on the login cache (see loginCache): a correct
// password is then checked against the hash once per l.TTL rather than at
// every login. A zero TTL or MaxEntries turns it off. A wrong password
// always pays the full check.
func (p *PasswdFile) CacheLogins(l CacheLimits) error {
	var c *loginCache
	if l.TTL > 0 && l.MaxEntries > 0 {
		var err error
		if c, err = newLoginCache(l); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cache = c
	return nil
}

// FlushLoginCache forgets every remembered login (the server does it on
// SIGHUP, as `doveadm auth cache flush` does for Dovecot).
func (p *PasswdFile) FlushLoginCache() {
	p.mu.Lock()
	c := p.cache
	p.mu.Unlock()
	if c != nil {
		c.flush()
	}
}

// LoginCacheStats returns the login cache's counters (zero when it is off).
func (p *PasswdFile) LoginCacheStats() CacheStats {
	p.mu.Lock()
	c := p.cache
	p.mu.Unlock()
	if c == nil {
		return CacheStats{}
	}
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

// HasUser reports whether name is in the file (re-read if it changed),
// compared by CanonicalName.
func (p *PasswdFile) HasUser(name string) (bool, error) {
	_, ok, err := p.LookupUser(name)
	return ok, err
}

// LookupUser returns the mail user's name for name, as the file spells it
// (the name of its mail folder), comparing by CanonicalName; ok is false
// when there is no such user. The file is re-read if it changed. LMTP and
// `dormouse deliver` use it to find recipients.
func (p *PasswdFile) LookupUser(name string) (user string, ok bool, err error) {
	if err := p.reload(); err != nil {
		return "", false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	acct, ok := p.users[CanonicalName(name)]
	return acct.name, ok, nil
}

// line is one line of a passwd-file. name is "" for comments and blanks.
type line struct {
	raw  string
	name string
	hash string
	rest string // ":extra:fields" after the hash, kept as written
}

func parse(data []byte) ([]line, error) {
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimRight(sc.Text(), "\r")
		t := strings.TrimSpace(raw)
		if t == "" || strings.HasPrefix(t, "#") {
			lines = append(lines, line{raw: raw})
			continue
		}
		name, after, ok := strings.Cut(raw, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("line %d: expected name:{SCHEME}hash", n)
		}
		hash, rest := after, ""
		if i := strings.IndexByte(after, ':'); i >= 0 {
			hash, rest = after[:i], after[i:]
		}
		lines = append(lines, line{raw: raw, name: name, hash: hash, rest: rest})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return lines, nil
}

func (l line) String() string {
	if l.name == "" {
		return l.raw
	}
	return l.name + ":" + l.hash + l.rest
}

// ValidName reports whether name can be stored as a user name: not empty, at
// most 255 bytes, without spaces, control characters, ':', '/', '\' or
// "..", and not starting with '.' or '#'. The name also becomes a folder
// name in the mail store.
func ValidName(name string) error {
	if name == "" || len(name) > 255 || name == "." || name == ".." || strings.Contains(name, "..") {
		return fmt.Errorf("%q: %w", name, ErrBadName)
	}
	for _, r := range name {
		if r <= 0x20 || r == 0x7f || r == ':' || r == '/' || r == '\\' || r == 0xfffd || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%q: %w", name, ErrBadName)
		}
	}
	// A leading '.' would make the user's folder a hidden one, which the
	// mail store refuses; '#' would make the line a comment.
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") {
		return fmt.Errorf("%q: %w", name, ErrBadName)
	}
	return nil
}

// verify checks password against hash once a hashing token is free (see
// PasswdFile.hashing), or gives up when ctx ends.
func (p *PasswdFile) verify(ctx context.Context, hash, password string) (bool, error) {
	select {
	case p.hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-p.hashing }()
	return verify(hash, password)
}
