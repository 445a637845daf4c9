package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
	"github.com/dormouse/dormouse/internal/fixturemail"
)

// The sort part: SORT by date, subject and from, THREAD=REFERENCES and
// ESEARCH (RFC 4731) with the criteria webmail and mobile clients send
// (UNSEEN, SINCE, FROM) over one large INBOX (plan.SortMsgs messages,
// small, with realistic reply chains, their INTERNALDATEs a minute
// apart), the way a webmail lists a folder page by page: each command on
// a fresh connection (LOGIN and SELECT untimed), the first run (the
// servers read headers into their caches) reported apart from the median
// of the sortRepeats runs after it.

// sortCommands are the commands measured, by row name.
var sortCommands = []struct{ name, cmd string }{
	{"SORT (DATE)", "SORT (DATE) UTF-8 ALL"},
	{"SORT (SUBJECT)", "SORT (SUBJECT) UTF-8 ALL"},
	{"SORT (FROM)", "SORT (FROM) UTF-8 ALL"},
	{"THREAD REFERENCES", "THREAD REFERENCES UTF-8 ALL"},
	{"ESEARCH UNSEEN (MIN MAX COUNT)", "SEARCH RETURN (MIN MAX COUNT) UNSEEN"},
	{"ESEARCH SINCE (ALL)", "UID SEARCH RETURN (ALL) SINCE " + sortSince},
	{"ESEARCH FROM (ALL)", "UID SEARCH RETURN (ALL) FROM p17@example.org"},
	{"ESEARCH UNSEEN FROM (COUNT)", `UID SEARCH RETURN (COUNT) UNSEEN FROM "person 17"`},
}

// sortSince is the SINCE date of the ESEARCH rows: 50,000 minutes after
// baseTime, so about half of a 100,000-message INBOX.
var sortSince = baseTime.Add(50000 * time.Minute).Format("2-Jan-2006")

// sortRepeats is how many times each command runs after the first.
const sortRepeats = 5

// sortResult is one command's figures on one server.
type sortResult struct {
	FirstMs    float64   `json:"first_ms"`  // the first run, caches cold
	MedianMs   float64   `json:"median_ms"` // median of the runs after
	CPUMs      float64   `json:"median_server_cpu_ms"`
	RunsMs     []float64 `json:"runs_ms"`
	ReplyBytes int       `json:"reply_bytes"`
	// Answer is the start of an ESEARCH reply, to check that both
	// servers found the same messages.
	Answer string `json:"answer,omitempty"`
}

// runSort measures every sortCommands entry on the server at addr.
func runSort(ctx context.Context, addr, user, pass string, pid int) (map[string]sortResult, error) {
	return runTimed(ctx, addr, user, pass, pid, sortCommands)
}

// runTimed measures each of cmds on the server at addr, in user's INBOX,
// on a fresh connection each run: the first run apart from the median of
// the sortRepeats runs after.
func runTimed(ctx context.Context, addr, user, pass string, pid int, cmds []struct{ name, cmd string }) (map[string]sortResult, error) {
	out := map[string]sortResult{}
	for _, sc := range cmds {
		var r sortResult
		var cpus []float64
		for i := range 1 + sortRepeats {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			c, err := dialIMAP(ctx, addr, 10*time.Minute)
			if err != nil {
				return nil, err
			}
			if err := c.loginSelect(user, pass); err != nil {
				c.close()
				return nil, fmt.Errorf("%s: %w", sc.name, err)
			}
			cpu0, _ := procmem.CPU(pid)
			t := time.Now()
			c.lastEsearch = ""
			n, err := c.run(sc.cmd, nil)
			el := time.Since(t)
			cpu1, _ := procmem.CPU(pid)
			c.logout()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sc.name, err)
			}
			ms := float64(el.Microseconds()) / 1000
			r.RunsMs = append(r.RunsMs, ms)
			r.ReplyBytes = n
			r.Answer = c.lastEsearch
			if i == 0 {
				r.FirstMs = ms
				continue
			}
			cpus = append(cpus, float64((cpu1-cpu0).Microseconds())/1000)
		}
		r.MedianMs = median(r.RunsMs[1:])
		r.CPUMs = median(cpus)
		out[sc.name] = r
	}
	return out, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.SortFunc(s, cmp.Compare)
	return s[len(s)/2]
}

// buildSortMailbox writes n thread-shaped messages into the INBOX of user
// under every root: the files once, hard links for the other roots.
func buildSortMailbox(roots []string, user string, n int) error {
	pool := filepath.Join(filepath.Dir(roots[0]), "sortpool")
	if err := os.MkdirAll(pool, 0o700); err != nil {
		return fmt.Errorf("sort fixture: %w", err)
	}
	for _, r := range roots {
		if err := makeMaildir(filepath.Join(r, user, "Maildir")); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(7, 2026))
	g := fixturemail.NewThreads(rng)
	for i := range n {
		msg := g.Next(i)
		name := fmt.Sprintf("%d.S%dP1Q%d.bench,S=%d,W=%d", baseTime.Unix()+int64(i), i, i, len(msg), len(msg)+strings.Count(msg, "\n"))
		src := filepath.Join(pool, name)
		if err := os.WriteFile(src, []byte(msg), 0o600); err != nil {
			return fmt.Errorf("sort fixture: %w", err)
		}
		// The INTERNALDATE of both servers' Maildirs, for SINCE.
		internal := baseTime.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(src, internal, internal); err != nil {
			return fmt.Errorf("sort fixture: %w", err)
		}
		for _, r := range roots {
			if err := os.Link(src, filepath.Join(r, user, "Maildir", "cur", name+":2,"+flagsOf(i))); err != nil {
				return fmt.Errorf("sort fixture: %w", err)
			}
		}
	}
	return nil
}
