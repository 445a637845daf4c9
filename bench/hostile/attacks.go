package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dormouse/dormouse/internal/imaptest"
)

// attackKinds are the reproductions that can run in a loop against a
// shared server. Left out: the full disk (6) and SIGKILLs (7), which would
// damage the server for everyone by design, and `user add` (9), which is
// not a client action.
var attackKinds = []string{"flood", "preauth-append", "list", "envelope", "search", "guess", "dup-rcpt"}

// hostileEnv is what the hostile clients share.
type hostileEnv struct {
	cfg   *soakConfig
	s     *server // addresses only: the monitor owns the process
	rec   *recorder
	users []string // the well-behaved users, whose passwords are guessed
}

// hostileUser is the account the post-login attacks use.
const hostileUser = "mallory"

// longName is the mailbox whose name makes LIST patterns backtrack.
var longName = strings.Repeat("a", 40)

// setup gives mallory what the post-login attacks need: a mailbox with a
// 40-character name, "Env" with messages of huge To: headers and "Big"
// with one big message.
func (h *hostileEnv) setup(ctx context.Context) error {
	c, err := login(ctx, h.s.imap, h.cfg.hostileFrom, hostileUser, password(hostileUser), h.cfg.timeout)
	if err != nil {
		return fmt.Errorf("hostile setup: %w", err)
	}
	defer c.Close()
	for _, mb := range []string{longName, "Env", "Big"} {
		if err := okOrErr(c.Command("CREATE "+imaptest.Quote(mb), nil)); err != nil {
			return fmt.Errorf("hostile setup: CREATE %s: %w", mb, err)
		}
	}
	for i := range h.cfg.envMsgs {
		if err := okOrErr(c.Append("Env", bigToMessage(i, 1_000_000))); err != nil {
			return fmt.Errorf("hostile setup: APPEND Env: %w", err)
		}
	}
	if err := okOrErr(c.Append("Big", bigBodyMessage(10_000_000))); err != nil {
		return fmt.Errorf("hostile setup: APPEND Big: %w", err)
	}
	return nil
}

// run starts one attack every 1/cfg.hostileRate seconds, cycling through
// attackKinds, with at most cfg.hostileInFlight at once (a tick that finds
// them all busy is skipped, so the rate never exceeds the flag), until ctx
// ends.
func (h *hostileEnv) run(ctx context.Context) {
	kinds := h.cfg.attackKinds
	if len(kinds) == 0 {
		kinds = attackKinds
	}
	period := time.Duration(float64(time.Second) / h.cfg.hostileRate)
	tick := time.NewTicker(period)
	defer tick.Stop()
	slots := make(chan struct{}, h.cfg.hostileInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			h.rec.attack("skipped (all busy)", nil)
			continue
		}
		kind := kinds[i%len(kinds)]
		n := i
		i++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			actx, cancel := context.WithTimeout(ctx, h.cfg.hostileTimeout+10*time.Second)
			defer cancel()
			h.rec.attack(kind, h.attack(actx, kind, n))
		}()
	}
}

// attack carries out one attack; an error means it could not be carried
// out (the server refusing it is not an error).
func (h *hostileEnv) attack(ctx context.Context, kind string, n int) error {
	from, to := h.cfg.hostileFrom, h.cfg.hostileTimeout
	switch kind {
	case "flood":
		conns, failed := silentFlood(ctx, h.s.imaps, h.cfg.floodFrom, h.cfg.floodConns, to)
		sleepCtx(ctx, to/2)
		for _, c := range conns {
			c.Close()
		}
		if len(conns) == 0 && failed > 0 {
			return fmt.Errorf("no connection of %d", failed)
		}
		return nil
	case "preauth-append":
		res := preauthAppend(ctx, h.s.imap, from, int64(h.cfg.preauthMiB)<<20, to)
		if strings.HasPrefix(res.answer, "dial") {
			return fmt.Errorf("%s", res.answer)
		}
		return nil
	case "list":
		return h.afterLogin(ctx, "", `LIST "" "`+worstListPattern+`"`)
	case "envelope":
		return h.afterLogin(ctx, "Env", "FETCH 1:* ENVELOPE")
	case "search":
		return h.afterLogin(ctx, "Big", "SEARCH"+strings.Repeat(" BODY zqzqzq", h.cfg.searchKeys))
	case "guess":
		user := h.users[n%len(h.users)]
		guessing(ctx, h.s.imap, h.cfg.guessFrom, user, h.cfg.guesses, h.cfg.madeUp, fmt.Sprint(n), to)
		return nil
	case "dup-rcpt":
		l, err := dialLMTP(ctx, h.s.lmtp, from, to)
		if err != nil {
			return err
		}
		defer l.close()
		rcpts := make([]string, h.cfg.rcpts)
		for i := range rcpts {
			rcpts[i] = hostileUser + "@example.org"
		}
		_, err = l.deliver(rcpts, textMessage(fmt.Sprintf("dup-%d", n), "duplicate recipients", 300), nil)
		if err != nil && strings.HasPrefix(err.Error(), "after DATA") {
			return nil // sent whole: the server still storing copies is the attack working
		}
		return err
	}
	return fmt.Errorf("unknown attack %q", kind)
}

// afterLogin logs in as mallory, selects mailbox (unless ""), sends cmd,
// waits at most cfg.hostileTimeout for its answer and disconnects.
func (h *hostileEnv) afterLogin(ctx context.Context, mailbox, cmd string) error {
	c, err := login(ctx, h.s.imap, h.cfg.hostileFrom, hostileUser, password(hostileUser), h.cfg.timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if mailbox != "" {
		if err := okOrErr(c.Command("SELECT "+imaptest.Quote(mailbox), nil)); err != nil {
			return err
		}
	}
	c.Timeout = h.cfg.hostileTimeout
	c.Command(cmd, nil) // no answer in time is the attack working, not a failure
	return nil
}
