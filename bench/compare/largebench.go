package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
)

// The large part: one INBOX of plan.LargeMsgs messages (100,000; a
// million in the full run), small files written directly (largeMessage),
// hard links in both servers' Maildirs. On each server, started fresh:
// the first SELECT (both build their index of the folder), then, after
// a restart, on new connections SELECT and FETCH 1:* (UID FLAGS) (the median of
// largeRepeats), UID FETCH 1:* (FLAGS) (CHANGEDSINCE m) after 100 flag
// changes, the server's memory with one session and with largeSessions
// sessions holding the mailbox selected, and last an EXPUNGE of one
// message in a hundred while those sessions are open.

// largeRepeats is how many times SELECT and FETCH run after the first.
const largeRepeats = 3

// largeSessions is how many sessions select the mailbox at once for the
// memory figure.
const largeSessions = 4

// largeUser names the user of the n-message mailbox.
func largeUser(n int) string { return fmt.Sprintf("large%d", n) }

// largeResult is what the large part measured on one server and size.
type largeResult struct {
	FirstSelectMs float64 `json:"first_select_ms"` // builds the server's index
	SelectMs      float64 `json:"select_ms"`       // median, new connection each
	FetchFlagsMs  float64 `json:"fetch_flags_ms"`  // FETCH 1:* (UID FLAGS), median
	FetchBytes    int     `json:"fetch_reply_bytes"`
	ChangedMs     float64 `json:"changedsince_ms"` // UID FETCH 1:* (FLAGS) (CHANGEDSINCE m)
	ExpungeMs     float64 `json:"expunge_ms"`      // EXPUNGE of 1 in 100, sessions open
	// QResyncMs is a SELECT (QRESYNC (uidvalidity m)) on a new
	// connection after the EXPUNGE, m being the HIGHESTMODSEQ before the
	// 100 flag changes: the reply has their FETCHes and the VANISHED.
	QResyncMs float64 `json:"qresync_select_ms"`
	Expunged  int     `json:"expunged"`
	// Server memory (Σ Pss of its processes, KiB), restarted after the
	// first SELECT: nothing selected; one session with the mailbox
	// selected and fetched; and largeSessions such sessions (of which
	// anonymous memory, the rest being file pages such as an mmapped
	// index).
	PssIdleKiB, PssOneKiB, PssManyKiB int64
	// PssFirstKiB is the memory right after the first SELECT, before
	// the restart.
	PssFirstKiB    int64 `json:"pss_first_kib"`
	PssAnonManyKiB int64 `json:"pss_anon_many_kib"`
	Procs          int   `json:"procs_many"`
}

// largeMessage is message i of a large mailbox: a few hundred bytes.
func largeMessage(i int) string {
	date := baseTime.Add(time.Duration(i) * time.Minute)
	return fmt.Sprintf("Message-ID: <large-%07d@example.org>\nDate: %s\nFrom: \"Person %d\" <p%d@example.org>\nTo: reader@example.org\nSubject: %s %s %d\n\n%s %s %s\n",
		i, date.Format(time.RFC1123Z), i%400, i%400, words[i%len(words)], words[(i/7)%len(words)], i,
		words[(i/3)%len(words)], words[(i/11)%len(words)], words[(i/13)%len(words)])
}

// buildLargeMailbox writes n messages into the INBOX of user under every
// root: the files into the first root's cur/ (largeWriters at a time),
// hard links into the others'. A million messages take about 4 GB of
// disk (one block each), once for all roots.
func buildLargeMailbox(roots []string, user string, n int) error {
	for _, r := range roots {
		if err := makeMaildir(filepath.Join(r, user, "Maildir")); err != nil {
			return err
		}
	}
	const largeWriters = 4
	var wg sync.WaitGroup
	errs := make(chan error, largeWriters)
	for w := range largeWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += largeWriters {
				msg := largeMessage(i)
				name := fmt.Sprintf("%d.L%dP1Q%d.bench,S=%d,W=%d:2,%s", baseTime.Unix()+int64(i), i, i, len(msg), len(msg)+strings.Count(msg, "\n"), flagsOf(i))
				first := filepath.Join(roots[0], user, "Maildir", "cur", name)
				if err := os.WriteFile(first, []byte(msg), 0o600); err != nil {
					errs <- fmt.Errorf("large fixture: %w", err)
					return
				}
				for _, r := range roots[1:] {
					if err := os.Link(first, filepath.Join(r, user, "Maildir", "cur", name)); err != nil {
						errs <- fmt.Errorf("large fixture: %w", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// largeRuns measures every size of the plan on s, each on a fresh start.
func largeRuns(ctx context.Context, s server, p plan, f fixture, res *results) error {
	for _, n := range p.LargeMsgs {
		r, err := largeOnce(ctx, s, largeUser(n), f.Password, n)
		if err != nil {
			return fmt.Errorf("%d messages: %w", n, err)
		}
		res.setLarge(s.Name(), n, r)
	}
	return nil
}

// largeOnce starts s and measures the n-message mailbox of user.
func largeOnce(ctx context.Context, s server, user, pass string, n int) (r largeResult, err error) {
	if err := s.Start(ctx, false); err != nil {
		return r, err
	}
	defer s.Stop()
	const timeout = 30 * time.Minute
	var anon int64
	pss := func() (int64, int, error) {
		t, err := procmem.Measure(s.PID())
		anon = t.PssAnonKiB
		return t.PssKiB, t.Procs, err
	}
	open := func() (*imapClient, time.Duration, error) {
		c, err := dialIMAP(ctx, s.Addr(), timeout)
		if err != nil {
			return nil, 0, err
		}
		if _, err := c.run(fmt.Sprintf("LOGIN %s %s", user, pass), nil); err != nil {
			c.close()
			return nil, 0, err
		}
		if _, err := c.run("ENABLE CONDSTORE", nil); err != nil {
			c.close()
			return nil, 0, err
		}
		t := time.Now()
		if _, err := c.run("SELECT INBOX", nil); err != nil {
			c.close()
			return nil, 0, err
		}
		return c, time.Since(t), nil
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	c, d, err := open()
	if err != nil {
		return r, fmt.Errorf("first SELECT: %w", err)
	}
	r.FirstSelectMs = ms(d)
	if c.exists != n {
		c.close()
		return r, fmt.Errorf("first SELECT: %d messages, want %d", c.exists, n)
	}
	c.logout()
	if r.PssFirstKiB, _, err = pss(); err != nil {
		return r, err
	}
	// A server in service has its index already: what building it left
	// in the process (heap the runtime keeps, Dovecot's indexer) is not
	// what a session of a large mailbox costs, so the rest runs on a
	// fresh start.
	if err := s.Stop(); err != nil {
		return r, err
	}
	if err := s.Start(ctx, false); err != nil {
		return r, err
	}
	if r.PssIdleKiB, _, err = pss(); err != nil {
		return r, err
	}
	var sel, fetch []float64
	for range largeRepeats {
		c, d, err := open()
		if err != nil {
			return r, fmt.Errorf("SELECT: %w", err)
		}
		sel = append(sel, ms(d))
		t := time.Now()
		r.FetchBytes, err = c.run("FETCH 1:* (UID FLAGS)", nil)
		fetch = append(fetch, ms(time.Since(t)))
		c.logout()
		if err != nil {
			return r, err
		}
	}
	r.SelectMs, r.FetchFlagsMs = median(sel), median(fetch)

	// Sessions that stay: the first changes 100 flags, asks what changed,
	// and the memory is read with it alone, then with all.
	var sessions []*imapClient
	defer func() {
		for _, c := range sessions {
			c.logout()
		}
	}()
	var before uint64 // HIGHESTMODSEQ before the flag changes
	for i := range largeSessions {
		c, _, err := open()
		if err != nil {
			return r, err
		}
		sessions = append(sessions, c)
		if _, err := c.run("FETCH 1:* (UID FLAGS)", nil); err != nil {
			return r, err
		}
		if i > 0 {
			continue
		}
		before = c.highestModSeq
		if before == 0 {
			return r, fmt.Errorf("no HIGHESTMODSEQ in SELECT's reply")
		}
		// \Draft: no message of the fixture has it (flagsOf), so each of
		// the 100 gets a new MODSEQ. (Every one of them has \Flagged:
		// spread picks every n/100th message, and every tenth is
		// flagged.)
		if _, err := c.run(fmt.Sprintf(`STORE %s +FLAGS.SILENT (\Draft)`, spread(n, 100)), nil); err != nil {
			return r, err
		}
		t := time.Now()
		read, err := c.run(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", before), nil)
		if err != nil {
			return r, err
		}
		r.ChangedMs = ms(time.Since(t))
		if read < 100*len("* 1 FETCH (UID 1 FLAGS (\\Draft) MODSEQ (1))\r\n") {
			return r, fmt.Errorf("CHANGEDSINCE after 100 flag changes: a %d-byte reply, not 100 messages", read)
		}
		if r.PssOneKiB, _, err = pss(); err != nil {
			return r, err
		}
	}
	if r.PssManyKiB, r.Procs, err = pss(); err != nil {
		return r, err
	}
	r.PssAnonManyKiB = anon
	c = sessions[0]
	r.Expunged = n / 100
	if _, err := c.run(fmt.Sprintf(`STORE 1:%d +FLAGS.SILENT (\Deleted)`, r.Expunged), nil); err != nil {
		return r, err
	}
	t := time.Now()
	if _, err := c.run("EXPUNGE", nil); err != nil {
		return r, err
	}
	r.ExpungeMs = ms(time.Since(t))

	// A client coming back: QRESYNC from before the flag changes.
	q, err := dialIMAP(ctx, s.Addr(), timeout)
	if err != nil {
		return r, err
	}
	defer q.logout()
	if _, err := q.run(fmt.Sprintf("LOGIN %s %s", user, pass), nil); err != nil {
		return r, err
	}
	if _, err := q.run("ENABLE QRESYNC", nil); err != nil {
		return r, err
	}
	t = time.Now()
	if _, err := q.run(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", c.uidValidity, before), nil); err != nil {
		return r, fmt.Errorf("QRESYNC SELECT: %w", err)
	}
	r.QResyncMs = ms(time.Since(t))
	if q.exists != n-r.Expunged {
		return r, fmt.Errorf("QRESYNC SELECT: %d messages, want %d", q.exists, n-r.Expunged)
	}
	return r, s.Stop()
}

// spread is a sequence set of k messages spread over 1..n.
func spread(n, k int) string {
	parts := make([]string, 0, k)
	for i := range k {
		parts = append(parts, fmt.Sprint(1+i*(n/k)))
	}
	return strings.Join(parts, ",")
}
