package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dormouse/dormouse/internal/fixturemail"
)

// fixture describes the users and mail both servers get.
type fixture struct {
	IdleUsers   int    // idle users, named IdleFmt
	IdleFmt     string // e.g. "user%04d"
	ActiveUsers int    // active-workload users, named ActiveFmt
	ActiveFmt   string
	ActiveMsgs  int    // messages in each active user's INBOX
	SyncUser    string // the mbsync user
	SyncMsgs    int    // messages in its INBOX
	SortUser    string // the SORT/THREAD user (sortbench.go)
	SortMsgs    int    // messages in its INBOX; 0: no such user
	LargeMsgs   []int  // one user per size, largeUser (largebench.go)
	Password    string
}

// users lists every user name of the fixture.
func (f fixture) users() []string {
	var out []string
	for i := range f.IdleUsers {
		out = append(out, fmt.Sprintf(f.IdleFmt, i))
	}
	for i := range f.ActiveUsers {
		out = append(out, fmt.Sprintf(f.ActiveFmt, i))
	}
	out = append(out, f.SyncUser)
	if f.SortMsgs > 0 {
		out = append(out, f.SortUser)
	}
	for _, n := range f.LargeMsgs {
		out = append(out, largeUser(n))
	}
	return out
}

// passwdFile is a Dovecot passwd-file of every user; both servers read it.
func (f fixture) passwdFile() []byte {
	var b strings.Builder
	for _, u := range f.users() {
		fmt.Fprintf(&b, "%s:{PLAIN}%s::::::\n", u, f.Password)
	}
	return []byte(b.String())
}

// poolSize is how many distinct messages are written; every mailbox links
// its messages from this pool.
func (f fixture) poolSize() int { return max(f.SyncMsgs, f.ActiveMsgs) }

// build writes the fixture into the user roots: the first root gets the
// message files, the others hard links to them (same bytes, each server its
// own directory entries and index). roots[i]/<user>/Maildir is a user's
// INBOX. It returns the total bytes of the message pool.
func (f fixture) build(roots []string) (int64, error) {
	if len(roots) == 0 {
		return 0, fmt.Errorf("fixture: no roots")
	}
	for _, r := range roots {
		for _, u := range f.users() {
			if u == f.SortUser && f.SortMsgs > 0 || strings.HasPrefix(u, "large") {
				continue // buildSortMailbox, buildLargeMailbox make them
			}
			if err := makeMaildir(filepath.Join(r, u, "Maildir")); err != nil {
				return 0, err
			}
		}
	}
	pool := filepath.Join(filepath.Dir(roots[0]), "pool")
	if err := os.MkdirAll(pool, 0o700); err != nil {
		return 0, fmt.Errorf("fixture: %w", err)
	}
	rng := fixturemail.NewRand()
	names := make([]string, f.poolSize())
	var total int64
	for i := range names {
		msg := fixturemail.Message(rng, i)
		name := fmt.Sprintf("%d.M%dP1Q%d.bench,S=%d,W=%d", baseTime.Unix()+int64(i), i, i, len(msg), len(msg)+strings.Count(msg, "\n"))
		names[i] = name
		if err := os.WriteFile(filepath.Join(pool, name), []byte(msg), 0o600); err != nil {
			return 0, fmt.Errorf("fixture: %w", err)
		}
		total += int64(len(msg))
	}
	link := func(user string, n int) error {
		for _, r := range roots {
			cur := filepath.Join(r, user, "Maildir", "cur")
			for i := range n {
				dst := filepath.Join(cur, names[i]+":2,"+flagsOf(i))
				if err := os.Link(filepath.Join(pool, names[i]), dst); err != nil {
					return fmt.Errorf("fixture: %w", err)
				}
			}
		}
		return nil
	}
	for i := range f.ActiveUsers {
		if err := link(fmt.Sprintf(f.ActiveFmt, i), f.ActiveMsgs); err != nil {
			return 0, err
		}
	}
	if err := link(f.SyncUser, f.SyncMsgs); err != nil {
		return 0, err
	}
	if f.SortMsgs > 0 {
		if err := buildSortMailbox(roots, f.SortUser, f.SortMsgs); err != nil {
			return 0, err
		}
	}
	for _, n := range f.LargeMsgs {
		if err := buildLargeMailbox(roots, largeUser(n), n); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// makeMaildir creates dir with cur/, new/ and tmp/.
func makeMaildir(dir string) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("fixture: %w", err)
		}
	}
	return nil
}

// The fixture's mail comes from internal/fixturemail, which the Go
// benchmarks of the same mail share.
var (
	baseTime = fixturemail.BaseTime
	words    = fixturemail.Words
)

// flagsOf gives message i Maildir flags: two in three seen, one in ten
// flagged, one in twenty answered.
func flagsOf(i int) string {
	var b strings.Builder
	if i%10 == 0 {
		b.WriteByte('F')
	}
	if i%20 == 0 {
		b.WriteByte('R')
	}
	if i%3 != 0 {
		b.WriteByte('S')
	}
	return b.String()
}
