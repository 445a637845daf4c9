package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// run does one torture run and returns what it found; an error means the
// run itself could not be done (no binary, no server), not a violation.
func run(ctx context.Context, cfg config, logw io.Writer) (result, error) {
	start := time.Now()
	res := result{seed: cfg.seed}
	tmp, err := os.MkdirTemp("", "dormouse-torture-")
	if err != nil {
		return res, err
	}
	// Kept when something was found, for the post-mortem: the data folder
	// and the server's log.
	defer func() {
		if len(res.violations) > 0 {
			fmt.Fprintf(logw, "torture: violations found; data and server log kept in %s\n", tmp)
			return
		}
		os.RemoveAll(tmp)
	}()
	if cfg.bin == "" {
		if cfg.bin, err = buildDormouse(tmp); err != nil {
			return res, err
		}
	}
	if cfg.data == "" {
		cfg.data = tmp + "/data"
	}
	d, err := newDaemon(cfg.bin, cfg.data, cfg.hibernateAfter, cfg.portBase)
	if err != nil {
		return res, err
	}
	if err := d.start(); err != nil {
		return res, err
	}
	defer d.stop()

	m := newModel()
	ops := &counters{}
	var ids atomic.Int64
	var crash atomic.Bool
	setup, err := dial(d.imap, user, password)
	if err != nil {
		return res, err
	}
	for _, mb := range mailboxes[1:] {
		if _, st, err := setup.run("CREATE " + quote(mb)); err != nil || !strings.HasPrefix(st, "OK") {
			return res, fmt.Errorf("CREATE %s: %q %v", mb, st, err)
		}
	}
	setup.close()

	workers := make([]*worker, cfg.clients)
	for i := range workers {
		workers[i] = &worker{n: i, rng: rand.New(rand.NewPCG(cfg.seed, uint64(i))), m: m, ops: ops, ids: &ids, oneInbox: cfg.oneInbox}
		if err := workers[i].connect(d.imap); err != nil {
			return res, err
		}
	}
	defer func() {
		for _, w := range workers {
			if w.c != nil {
				w.c.close()
			}
		}
	}()
	rng := rand.New(rand.NewPCG(cfg.seed, 1<<32))
	// The server's hibernation counters restart with it: add up each
	// life's last reading.
	var lastHib, lastWake float64
	readHibernation := func() {
		if h, w, err := d.hibernation(); err == nil {
			res.hibernations += h - lastHib
			res.wakes += w - lastWake
			lastHib, lastWake = h, w
		}
	}
	// A fixed number of phases, not a wall-clock end: restarts and
	// checkpoints take longer on a loaded machine, and every phase must
	// get its fault and its checkpoint.
	phases := max(1, int((cfg.duration+cfg.phase-1)/cfg.phase))
	for range phases {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		m.mu.Lock()
		m.phase++
		m.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, cfg.phase)
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for pctx.Err() == nil {
					if err := w.step(); err != nil {
						if !crash.Load() {
							m.mu.Lock()
							m.violate("client %d: connection failed without a fault: %v", w.n, err)
							m.mu.Unlock()
						}
						w.c.close()
						w.c = nil
						<-pctx.Done()
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			deliverLoop(pctx, d.lmtp, cfg.deliverEvery, m, ops, &ids, &crash)
		}()
		if cfg.kill {
			// Somewhere in the middle of the phase's load.
			at := time.Duration(float64(cfg.phase) * (0.3 + 0.4*rng.Float64()))
			select {
			case <-time.After(at):
				readHibernation()
				crash.Store(true)
				d.kill()
				lastHib, lastWake = 0, 0
				res.faults++
				fmt.Fprintf(logw, "torture: SIGKILL %d after %v of phase %d, at %v\n", res.faults, at.Round(time.Millisecond), res.checkpoints+1, time.Since(m.start).Round(time.Millisecond))
			case <-pctx.Done():
			}
		}
		wg.Wait()
		cancel()
		restarted := crash.Load()
		if restarted {
			if err := d.start(); err != nil {
				return res, fmt.Errorf("restart after SIGKILL: %w", err)
			}
			m.NewLife()
			crash.Store(false)
		}
		for _, w := range workers {
			// After a crash every connection is dead, also those of
			// clients that were between operations and did not notice.
			if restarted && w.c != nil {
				w.c.close()
				w.c = nil
			}
			if w.c == nil {
				if err := w.connect(d.imap); err != nil {
					return res, fmt.Errorf("reconnect client %d: %w", w.n, err)
				}
			}
		}
		readHibernation()
		if err := checkpoint(d.imap, workers, m); err != nil {
			return res, err
		}
		res.checkpoints++
		fmt.Fprintf(logw, "torture: checkpoint %d: %d violations so far\n", res.checkpoints, len(m.Violations()))
	}
	m.CheckDeliveries()
	res.elapsed = time.Since(start)
	res.ops = ops.snapshot()
	res.violations = m.Violations()
	return res, nil
}

// checkpoint runs with every client quiet: each client's view is compared
// with a fresh session's, then the store with the model.
func checkpoint(addr string, workers []*worker, m *model) error {
	checker, err := dial(addr, user, password)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer checker.close()
	fresh := make(map[string][]message)
	for _, mb := range mailboxes {
		validity, highest, msgs, err := readMailbox(checker, mb)
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		fresh[mb] = msgs
		m.CheckStore(mb, validity, highest, msgs)
	}
	for _, w := range workers {
		var diff string
		// Changes reach other sessions a moment later: a mismatch counts
		// only if a second NOOP, after a pause, does not mend it.
		for try := range 3 {
			if try > 0 {
				time.Sleep(300 * time.Millisecond)
			}
			if _, _, err := w.c.run("NOOP"); err != nil {
				return fmt.Errorf("checkpoint NOOP: %w", err)
			}
			if err := w.c.fill(); err != nil {
				return fmt.Errorf("checkpoint fill: %w", err)
			}
			if diff = viewDiff(w.c.view, fresh[w.c.selected]); diff == "" {
				break
			}
		}
		m.mu.Lock()
		if diff != "" {
			m.violate("client %d's view of %s differs from the store: %s", w.n, w.c.selected, diff)
		}
		for _, b := range w.c.bad {
			m.violate("client %d: %s", w.n, b)
		}
		w.c.bad = nil
		m.mu.Unlock()
	}
	return nil
}

// readMailbox reads a mailbox as a fresh session sees it.
func readMailbox(c *imapConn, mb string) (validity uint32, highest uint64, msgs []message, err error) {
	c.selected = ""
	lines, st, err := c.run("EXAMINE " + quote(mb) + " (CONDSTORE)")
	if err != nil || !strings.HasPrefix(st, "OK") {
		return 0, 0, nil, fmt.Errorf("EXAMINE %s: %q %v", mb, st, err)
	}
	for _, l := range lines {
		if v, ok := codeNumber(l, "UIDVALIDITY"); ok {
			validity = uint32(v)
		}
		if v, ok := codeNumber(l, "HIGHESTMODSEQ"); ok {
			highest = v
		}
	}
	lines, st, err = c.run("UID FETCH 1:* (UID FLAGS MODSEQ BODY.PEEK[HEADER.FIELDS (X-Torture-ID)])")
	if err != nil || !strings.HasPrefix(st, "OK") {
		return 0, 0, nil, fmt.Errorf("FETCH %s: %q %v", mb, st, err)
	}
	for _, l := range lines {
		if msg, ok := parseFetch(l); ok && reFetch.MatchString(l) {
			msgs = append(msgs, msg)
		}
	}
	slices.SortFunc(msgs, func(a, b message) int { return int(a.uid) - int(b.uid) })
	return validity, highest, msgs, nil
}

// codeNumber reads "[CODE n]" from a response line.
func codeNumber(l, code string) (uint64, bool) {
	i := strings.Index(l, "["+code+" ")
	if i < 0 {
		return 0, false
	}
	rest := l[i+len(code)+2:]
	j := strings.IndexByte(rest, ']')
	if j < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(rest[:j], 10, 64)
	return n, err == nil
}

// viewDiff describes how a client's view differs from the store's
// messages; "" if it does not.
func viewDiff(v view, msgs []message) string {
	if len(v.uids) != len(msgs) {
		return fmt.Sprintf("%d messages, the store has %d", len(v.uids), len(msgs))
	}
	for i, msg := range msgs {
		if v.uids[i] != msg.uid {
			return fmt.Sprintf("message %d has UID %d, the store's has %d", i+1, v.uids[i], msg.uid)
		}
		if f := v.flags[msg.uid]; f != msg.flags {
			return fmt.Sprintf("UID %d has flags (%s), the store's (%s)", msg.uid, f, msg.flags)
		}
	}
	return ""
}
