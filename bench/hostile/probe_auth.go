package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// guessing is a password-guessing attack from one address: wrong passwords
// for a real user, then made-up names, each on its own connection (the
// server pauses after every failure), many at once.
func guessing(ctx context.Context, addr, from, user string, wrong, madeUp int, tag string, timeout time.Duration) (failed int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 40)
	try := func(name, pw string) {
		defer wg.Done()
		sem <- struct{}{}
		defer func() { <-sem }()
		c, err := login(ctx, addr, from, name, pw, timeout)
		if err == nil {
			c.Close()
			return
		}
		mu.Lock()
		failed++
		mu.Unlock()
	}
	for i := range wrong {
		wg.Add(1)
		go try(user, fmt.Sprintf("guess-%s-%d", tag, i))
	}
	for i := range madeUp {
		wg.Add(1)
		go try(fmt.Sprintf("nobody-%s-%d", tag, i), "guess")
	}
	wg.Wait()
	return failed
}

// tryLogin logs in with the right password and returns the answer ("OK"
// or the refusal).
func tryLogin(ctx context.Context, addr, from, user, pw string, timeout time.Duration) (string, bool) {
	c, err := login(ctx, addr, from, user, pw, timeout)
	if err != nil {
		return strings.TrimPrefix(err.Error(), "LOGIN: "), false
	}
	c.Close()
	return "OK", true
}

// probeGuessing (finding 8): cfg.guesses wrong passwords for alice from
// 127.0.0.1, then alice's right password; cfg.madeUp made-up names, then
// bob's right password (a user the attack never named, behind the same
// address); then both again every 5 s until they log in or cfg.guessWait
// passes.
func probeGuessing(ctx context.Context, cfg *reproConfig, r *row) error {
	s, err := freshServer(cfg, "p8-guessing")
	if err != nil {
		return err
	}
	defer s.stop(10 * time.Second)
	const from = "127.0.0.1"
	t0 := time.Now()
	guessing(ctx, s.imap, from, "alice", cfg.guesses, 0, "a", cfg.timeout)
	aliceNow, aliceOK := tryLogin(ctx, s.imap, from, "alice", "alice-pw", cfg.timeout)
	guessing(ctx, s.imap, from, "", 0, cfg.madeUp, "n", cfg.timeout)
	bobNow, bobOK := tryLogin(ctx, s.imap, from, "bob", "bob-pw", cfg.timeout)
	attackEnd := time.Now()
	aliceAfter, bobAfter := time.Duration(0), time.Duration(0)
	for (!aliceOK || !bobOK) && time.Since(attackEnd) < cfg.guessWait && ctx.Err() == nil {
		sleepCtx(ctx, 5*time.Second)
		if !aliceOK {
			if _, aliceOK = tryLogin(ctx, s.imap, from, "alice", "alice-pw", cfg.timeout); aliceOK {
				aliceAfter = time.Since(attackEnd)
			}
		}
		if !bobOK {
			if _, bobOK = tryLogin(ctx, s.imap, from, "bob", "bob-pw", cfg.timeout); bobOK {
				bobAfter = time.Since(attackEnd)
			}
		}
	}
	outcome := func(now string, ok bool, after time.Duration) string {
		if now == "OK" {
			return "logs in at once"
		}
		if ok {
			return fmt.Sprintf("refused, logs in %s s after the attack", secs(after))
		}
		return fmt.Sprintf("refused, still refused %v after the attack", cfg.guessWait)
	}
	r.Value = fmt.Sprintf("alice: %s; bob: %s", outcome(aliceNow, aliceOK, aliceAfter), outcome(bobNow, bobOK, bobAfter))
	r.Detail = fmt.Sprintf("from %s: %d wrong passwords for alice, then alice's right one: %q; %d made-up names, then bob's right one: %q; attack took %s s",
		from, cfg.guesses, shorten(aliceNow, 70), cfg.madeUp, shorten(bobNow, 70), secs(attackEnd.Sub(t0)))
	r.Data = map[string]any{"wrong_passwords": cfg.guesses, "made_up_names": cfg.madeUp, "alice_answer": aliceNow, "bob_answer": bobNow,
		"alice_ok": aliceOK, "bob_ok": bobOK, "alice_after_s": aliceAfter.Seconds(), "bob_after_s": bobAfter.Seconds()}
	if !s.running() {
		return errExited
	}
	return nil
}

// probeSmaller (finding 9): one LMTP transaction naming mallory cfg.rcpts
// times, then the copies in her INBOX; and `user add alice` then `user add
// ALICE` on a fresh data folder.
func probeSmaller(ctx context.Context, cfg *reproConfig, r *row) error {
	s, err := freshServer(cfg, "p9-smaller")
	if err != nil {
		return err
	}
	defer s.stop(10 * time.Second)
	l, err := dialLMTP(ctx, s.lmtp, "", cfg.timeout)
	if err != nil {
		return err
	}
	rcpts := make([]string, cfg.rcpts)
	for i := range rcpts {
		rcpts[i] = "mallory@example.org"
	}
	codes, err := l.deliver(rcpts, textMessage("dup", "one recipient, many times", 200), nil)
	l.close()
	if err != nil {
		return fmt.Errorf("LMTP: %w", err)
	}
	c, err := login(ctx, s.imap, "", "mallory", "mallory-pw", cfg.timeout)
	if err != nil {
		return err
	}
	copies, err := exists(c, "INBOX")
	c.Close()
	if err != nil {
		return err
	}
	data := filepath.Join(cfg.dir, "p9-users")
	os.RemoveAll(data)
	_, err1 := userAdd(cfg.server.bin, data, "alice", "pw-one")
	out2, err2 := userAdd(cfg.server.bin, data, "ALICE", "pw-two")
	caseAnswer := "ALICE accepted as a second user"
	switch {
	case err1 != nil:
		caseAnswer = "user add alice failed: " + err1.Error()
	case err2 != nil:
		caseAnswer = fmt.Sprintf("ALICE refused (%v: %s)", err2, strings.TrimSpace(string(out2)))
	}
	r.Value = fmt.Sprintf("%d copies; %s", copies, shorten(caseAnswer, 60))
	r.Detail = fmt.Sprintf("one LMTP transaction, RCPT TO mallory × %d: %d per-recipient replies after DATA, %d messages in her INBOX; user add alice then ALICE: %s",
		cfg.rcpts, len(codes), copies, caseAnswer)
	r.Data = map[string]any{"rcpts": cfg.rcpts, "replies": len(codes), "copies": copies, "user_add_case": caseAnswer}
	return nil
}
