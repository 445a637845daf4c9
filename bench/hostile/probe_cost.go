package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
	"github.com/dormouse/dormouse/internal/imaptest"
)

// worstListPattern backtracks exponentially in a naive wildcard matcher
// against a long name without a q.
const worstListPattern = "**********q"

// probeList (finding 3) creates a mailbox with a 40-character name and
// runs a LIST whose pattern makes a backtracking matcher exponential.
func probeList(ctx context.Context, cfg *reproConfig, r *row) error {
	s, c, err := freshMallory(ctx, cfg, "p3-list")
	if err != nil {
		return err
	}
	if st, err := c.Command("CREATE "+strings.Repeat("a", 40), nil); err != nil || !imaptest.IsOK(st) {
		c.Close()
		s.stop(10 * time.Second)
		return fmt.Errorf("CREATE: %q %v", st, err)
	}
	res := cpuProbe(ctx, s, c, `LIST "" "`+worstListPattern+`"`, cfg.cpuWait)
	res.fill(r, cfg.cpuWait, "LIST \"\" \""+worstListPattern+"\" after CREATE of a 40-character name")
	return res.err
}

// cpuResult is the CPU a command cost the server.
type cpuResult struct {
	during, after time.Duration // CPU while the client waited, after it left
	answered      bool
	answer        string
	wall          time.Duration
	quiet         bool          // CPU use stopped within the watch after the client left
	shutdown      time.Duration // SIGTERM to exit
	termOK        bool          // SIGTERM alone ended the server
	err           error
}

// cpuProbe sends cmd on c, waits up to wait for the answer, closes c,
// watches the server's CPU until it goes quiet (at most wait again) and
// then stops the server with SIGTERM (SIGKILL after 10 s).
func cpuProbe(ctx context.Context, s *server, c *imaptest.Conn, cmd string, wait time.Duration) cpuResult {
	var res cpuResult
	cpu0 := s.cpu()
	t0 := time.Now()
	c.Timeout = wait
	st, err := c.Command(cmd, nil)
	res.wall = time.Since(t0)
	res.during = s.cpu() - cpu0
	var ne net.Error
	switch {
	case err == nil:
		res.answered = true
		res.answer = st
	case errors.As(err, &ne) && ne.Timeout():
		res.answer = fmt.Sprintf("none within %v", wait)
	default:
		res.answer = err.Error()
	}
	c.Close()
	res.after, res.quiet = s.waitCPUQuiet(ctx, wait)
	if !s.running() {
		res.err = errExited
		return res
	}
	res.shutdown, res.termOK = s.stop(10 * time.Second)
	return res
}

// fill writes a CPU result into a row.
func (res cpuResult) fill(r *row, wait time.Duration, what string) {
	total := res.during + res.after
	if res.answered {
		r.Value = fmt.Sprintf("%s CPU s (answered in %s s)", secs(total), secs(res.wall))
	} else {
		r.Value = fmt.Sprintf("> %v: %s CPU s and no answer", wait, secs(total))
	}
	after := fmt.Sprintf("%s CPU s after the client left", secs(res.after))
	if !res.quiet {
		after += fmt.Sprintf(" (still burning when the %v watch ended)", wait)
	}
	term := fmt.Sprintf("SIGTERM ended it in %s s", secs(res.shutdown))
	if !res.termOK {
		term = fmt.Sprintf("SIGTERM did not end it in %s s (SIGKILLed)", secs(res.shutdown))
	}
	r.Detail = fmt.Sprintf("%s: %s CPU s while the client waited, %s; answer %q; %s",
		what, secs(res.during), after, shorten(res.answer, 80), term)
	r.Data = map[string]any{"cpu_during_s": res.during.Seconds(), "cpu_after_s": res.after.Seconds(), "answered": res.answered,
		"wall_s": res.wall.Seconds(), "quiet_after": res.quiet, "sigterm_ok": res.termOK, "shutdown_s": res.shutdown.Seconds()}
}

// shorten cuts s to n bytes.
func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// probeEnvelope (finding 4) stores cfg.envMsgs messages with a To: header
// of cfg.envBytes each and measures the server's peak RSS during one
// FETCH 1:* ENVELOPE.
func probeEnvelope(ctx context.Context, cfg *reproConfig, r *row) error {
	s, err := freshServer(cfg, "p4-envelope")
	if err != nil {
		return err
	}
	defer s.stop(10 * time.Second)
	c, err := login(ctx, s.imap, "", "mallory", "mallory-pw", cfg.timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := range cfg.envMsgs {
		if st, err := c.Append("INBOX", bigToMessage(i, cfg.envBytes)); err != nil || !imaptest.IsOK(st) {
			return fmt.Errorf("APPEND %d: %q %v", i, st, err)
		}
	}
	if _, err := exists(c, "INBOX"); err != nil {
		return err
	}
	sleepCtx(ctx, time.Second)
	before := s.rssKiB()
	hwmOK := procmem.ResetPeak(s.pid()) == nil
	// Sampling backs up VmHWM where clear_refs is not allowed.
	var sampled atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if v := s.rssKiB(); v > sampled.Load() {
				sampled.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t0 := time.Now()
	c.Timeout = 2 * time.Minute
	st, err := c.Command("FETCH 1:* ENVELOPE", nil)
	wall := time.Since(t0)
	close(stop)
	<-done
	peak := sampled.Load()
	if hwm, herr := procmem.StatusKiB(s.pid(), "VmHWM"); hwmOK && herr == nil && hwm > peak {
		peak = hwm
	}
	answer := st
	if err != nil {
		answer = err.Error()
	}
	sleepCtx(ctx, 3*time.Second)
	after := s.rssKiB()
	r.Value = fmt.Sprintf("%s MiB peak (%s before)", mib(peak<<10), mib(before<<10))
	r.Detail = fmt.Sprintf("%d messages × %s MB To: header (%d addresses each); FETCH 1:* ENVELOPE took %s s, answer %q; RSS 3 s later %s MiB",
		cfg.envMsgs, fmt.Sprintf("%.1f", float64(cfg.envBytes)/1e6), strings.Count(string(bigToMessage(0, cfg.envBytes)), "@")-1, secs(wall), shorten(answer, 60), mib(after<<10))
	r.Data = map[string]any{"messages": cfg.envMsgs, "to_bytes": cfg.envBytes, "rss_before_kib": before, "rss_peak_kib": peak, "rss_after_kib": after, "wall_s": wall.Seconds(), "peak_from_vmhwm": hwmOK}
	if !s.running() {
		return errExited
	}
	return err
}

// probeSearch (finding 5) stores one message of cfg.searchBytes and runs
// SEARCH with cfg.searchKeys copies of BODY zqzqzq, then disconnects.
func probeSearch(ctx context.Context, cfg *reproConfig, r *row) error {
	s, c, err := freshMallory(ctx, cfg, "p5-search")
	if err != nil {
		return err
	}
	if st, err := c.Append("INBOX", bigBodyMessage(cfg.searchBytes)); err != nil || !imaptest.IsOK(st) {
		c.Close()
		s.stop(10 * time.Second)
		return fmt.Errorf("APPEND: %q %v", st, err)
	}
	if _, err := exists(c, "INBOX"); err != nil {
		c.Close()
		s.stop(10 * time.Second)
		return err
	}
	res := cpuProbe(ctx, s, c, "SEARCH"+strings.Repeat(" BODY zqzqzq", cfg.searchKeys), cfg.cpuWait)
	res.fill(r, cfg.cpuWait, fmt.Sprintf("%d × BODY zqzqzq over one %s MB message", cfg.searchKeys, fmt.Sprintf("%.0f", float64(cfg.searchBytes)/1e6)))
	return res.err
}

// freshMallory starts a fresh server and logs mallory in on it; on an
// error nothing is left running.
func freshMallory(ctx context.Context, cfg *reproConfig, name string) (*server, *imaptest.Conn, error) {
	s, err := freshServer(cfg, name)
	if err != nil {
		return nil, nil, err
	}
	c, err := login(ctx, s.imap, "", "mallory", "mallory-pw", cfg.timeout)
	if err != nil {
		s.stop(10 * time.Second)
		return nil, nil, err
	}
	return s, c, nil
}
