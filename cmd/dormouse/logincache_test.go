package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/internal/imaptest"
)

// The login cache answers a repeated correct login without the full hash
// check, and forgets a user at once when the passwd-file line changes
// (`dormouse user passwd`, or another tool replacing the file) or goes
// (`dormouse user del`): every login below is a real IMAP LOGIN against the
// daemon, with the file rewritten between them.
func TestLoginCacheForgetsChangedUsers(t *testing.T) {
	data := t.TempDir()
	// Short failure pause: this test fails logins on purpose.
	writeFile(t, filepath.Join(data, "dormouse.toml"), "[limits]\nfailed_login_delay = \"10ms\"\n")
	addTestUser(t, data, "alice", "first-pw")
	addTestUser(t, data, "bob", "bob-pw")
	d := startDaemon(t, data)

	login := func(user, password string) bool {
		t.Helper()
		c := dialIMAP(t, d.imap, nil)
		_, status := c.Do("LOGIN " + user + " " + imaptest.Quote(password))
		c.Do("LOGOUT")
		return strings.HasPrefix(status, "OK")
	}
	steps := []struct {
		name     string
		change   func()
		user, pw string
		ok       bool
		hits     int // the cache's hits after the login
	}{
		{name: "first login: full check", user: "alice", pw: "first-pw", ok: true, hits: 0},
		{name: "again: from the cache", user: "alice", pw: "first-pw", ok: true, hits: 1},
		{name: "wrong password while remembered", user: "alice", pw: "guess", ok: false, hits: 1},
		{name: "old password after user passwd",
			change: func() {
				if code, _, stderr := runDormouse(t, "second-pw\n", "user", "passwd", "--data", data, "alice"); code != 0 {
					t.Fatalf("user passwd: exit %d: %s", code, stderr)
				}
			},
			user: "alice", pw: "first-pw", ok: false, hits: 1},
		{name: "new password", user: "alice", pw: "second-pw", ok: true, hits: 1},
		{name: "new password again: from the cache", user: "alice", pw: "second-pw", ok: true, hits: 2},
		{name: "other user unaffected", user: "bob", pw: "bob-pw", ok: true, hits: 2},
		{name: "old password after another tool replaced the file",
			change: func() { replaceHash(t, filepath.Join(data, "passwd"), "alice", "third-pw") },
			user:   "alice", pw: "second-pw", ok: false, hits: 2},
		{name: "its password", user: "alice", pw: "third-pw", ok: true, hits: 2},
		{name: "its password again: from the cache", user: "alice", pw: "third-pw", ok: true, hits: 3},
		{name: "deleted user",
			change: func() {
				if code, _, stderr := runDormouse(t, "", "user", "del", "--data", data, "alice"); code != 0 {
					t.Fatalf("user del: exit %d: %s", code, stderr)
				}
			},
			user: "alice", pw: "third-pw", ok: false, hits: 3},
	}
	for _, s := range steps {
		if s.change != nil {
			s.change()
		}
		if got := login(s.user, s.pw); got != s.ok {
			t.Errorf("%s: LOGIN %s %s succeeded = %v, want %v", s.name, s.user, s.pw, got, s.ok)
		}
		if got := cacheHits(t, d.metric); got != s.hits {
			t.Errorf("%s: %d cache hits, want %d", s.name, got, s.hits)
		}
	}
}

// replaceHash rewrites the passwd-file at path as a tool other than
// dormouse would: user's line gets a new hash for password, and the file
// is replaced by rename.
func replaceHash(t *testing.T, path, user, password string) {
	t.Helper()
	hash, err := auth.HashPassword(auth.DefaultScheme, password)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(old), "\n")
	found := false
	for i, l := range lines {
		if name, _, _ := strings.Cut(l, ":"); name == user {
			lines[i] = user + ":" + hash
			found = true
		}
	}
	if !found {
		t.Fatalf("no line for %s in %s", user, path)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// cacheHits scrapes dormouse_auth_cache_hits_total.
func cacheHits(t *testing.T, metricsAddr string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^dormouse_auth_cache_hits_total (\d+)$`).FindStringSubmatch(scrape(t, metricsAddr))
	if m == nil {
		t.Fatal("no dormouse_auth_cache_hits_total in the metrics")
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}
