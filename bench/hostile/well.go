package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dormouse/dormouse/internal/imaptest"
)

// sentMailbox receives the well-behaved clients' APPENDs, so that INBOX
// changes only by LMTP and every EXISTS an IDLE client sees in it is a
// delivery's.
const sentMailbox = "Sent"

// wellEnv is what the well-behaved clients share.
type wellEnv struct {
	cfg   *soakConfig
	imap  string
	lmtp  string
	rec   *recorder
	led   *ledger
	wakes *wakeClock
	ids   atomic.Int64
}

// password is a well-behaved user's password.
func password(user string) string { return user + "-pw" }

// newID returns a fresh marker id.
func (e *wellEnv) newID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, e.ids.Add(1))
}

// timed runs f and records its latency or error under kind.
func (e *wellEnv) timed(kind string, f func() error) error {
	t0 := time.Now()
	err := f()
	if err != nil {
		e.rec.fail(kind, err)
		return err
	}
	e.rec.ok(kind, time.Since(t0))
	return nil
}

// activeClient logs in as user and runs a random mix of operations, one
// every cfg.think, logging out and in again every 20 operations, until ctx
// ends.
func (e *wellEnv) activeClient(ctx context.Context, n int, user string) {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(time.Now().UnixNano())))
	for ctx.Err() == nil {
		var c *imaptest.Conn
		err := e.timed("login", func() error {
			var err error
			c, err = login(ctx, e.imap, "", user, password(user), e.cfg.timeout)
			return err
		})
		if err != nil {
			sleepCtx(ctx, time.Second)
			continue
		}
		exists := 0
		track := func(r string) {
			f := strings.Fields(r)
			if len(f) == 3 && f[2] == "EXISTS" {
				exists, _ = strconv.Atoi(f[1])
			}
		}
		err = e.timed("select", func() error { return okOrErr(c.Command("SELECT INBOX", track)) })
		for i := 0; err == nil && i < 20 && ctx.Err() == nil; i++ {
			sleepCtx(ctx, e.cfg.think)
			if ctx.Err() != nil {
				break
			}
			err = e.step(ctx, c, rng, user, &exists, track)
		}
		if err == nil {
			c.Command("LOGOUT", nil)
		}
		c.Close()
		if err != nil {
			sleepCtx(ctx, time.Second)
		}
	}
}

// step runs one random operation.
func (e *wellEnv) step(ctx context.Context, c *imaptest.Conn, rng *rand.Rand, user string, exists *int, track func(string)) error {
	last := max(*exists-9, 1)
	switch k := rng.IntN(10); {
	case k < 3 && *exists > 0:
		return e.timed("fetch", func() error {
			return okOrErr(c.Command(fmt.Sprintf("FETCH %d:* (UID FLAGS ENVELOPE BODY.PEEK[HEADER])", last), track))
		})
	case k < 5 && *exists > 0:
		q := fmt.Sprintf("SEARCH %d:* SUBJECT soak", last)
		if k == 4 {
			q = "UID SEARCH UNSEEN"
		}
		return e.timed("search", func() error { return okOrErr(c.Command(q, track)) })
	case k < 7 && *exists > 0:
		seq := last + rng.IntN(*exists-last+1)
		return e.timed("store", func() error {
			return okOrErr(c.Command(fmt.Sprintf(`STORE %d +FLAGS (\Seen)`, seq), track))
		})
	case k < 9:
		id := e.newID("append")
		err := e.timed("append", func() error {
			return okOrErr(c.Append(sentMailbox, textMessage(id, "soak append", 2000)))
		})
		if err == nil {
			e.led.add(user, sentMailbox, id)
		}
		return err
	default:
		return e.idleOnce(ctx, c, track)
	}
}

// idleOnce IDLEs long enough for the server to hibernate the connection,
// then ends it; the latency is from DONE to the tagged OK (a wake).
func (e *wellEnv) idleOnce(ctx context.Context, c *imaptest.Conn, track func(string)) error {
	tag := c.NextTag()
	if err := c.Send(tag + " IDLE"); err != nil {
		e.rec.fail("idle-done", err)
		return err
	}
	for {
		r, err := c.ReadResponse()
		if err != nil {
			e.rec.fail("idle-done", err)
			return err
		}
		if strings.HasPrefix(r, "+") {
			break
		}
		if strings.HasPrefix(r, tag+" ") {
			err := fmt.Errorf("IDLE: %s", r)
			e.rec.fail("idle-done", err)
			return err
		}
		track(r)
	}
	c.NetConn().SetDeadline(time.Time{})
	sleepCtx(ctx, e.cfg.hibernateAfter+500*time.Millisecond)
	return e.timed("idle-done", func() error {
		c.NetConn().SetDeadline(time.Now().Add(e.cfg.timeout))
		if err := c.Send("DONE"); err != nil {
			return err
		}
		return okOrErr(c.ReadTagged(tag, track))
	})
}

// okOrErr turns a status that is not OK into an error.
func okOrErr(st string, err error) error {
	if err != nil {
		return err
	}
	if !imaptest.IsOK(st) {
		return fmt.Errorf("%s", shorten(st, 120))
	}
	return nil
}

// idler logs in as user, SELECTs INBOX and IDLEs, renewing the IDLE every
// 5 minutes; every EXISTS is a wake, timed from the last delivery to
// user. It reconnects when the connection fails, until ctx ends.
func (e *wellEnv) idler(ctx context.Context, user string) {
	for ctx.Err() == nil {
		if err := e.idleSession(ctx, user); err != nil && ctx.Err() == nil {
			e.rec.fail("idle-session", err)
			sleepCtx(ctx, time.Second)
		}
	}
}

var reExists = regexp.MustCompile(`^\* \d+ EXISTS`)

func (e *wellEnv) idleSession(ctx context.Context, user string) error {
	c, err := login(ctx, e.imap, "", user, password(user), e.cfg.timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := okOrErr(c.Command("SELECT INBOX", nil)); err != nil {
		return err
	}
	if err := c.Send(c.NextTag() + " IDLE"); err != nil {
		return err
	}
	c.NetConn().SetDeadline(time.Time{})
	readErr := make(chan error, 1)
	go func() {
		for {
			line, err := c.Reader().ReadString('\n')
			if err != nil {
				readErr <- err
				return
			}
			if reExists.MatchString(line) {
				now := time.Now()
				if sent := e.wakes.get(user); !sent.IsZero() && now.Sub(sent) < 10*time.Second {
					e.rec.ok("wake", now.Sub(sent))
				}
			}
			if strings.HasPrefix(line, "* BYE") {
				readErr <- fmt.Errorf("%s", strings.TrimSpace(line))
				return
			}
		}
	}()
	renew := time.NewTicker(5 * time.Minute)
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			c.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
			c.NetConn().Write([]byte("DONE\r\nz LOGOUT\r\n"))
			return nil
		case err := <-readErr:
			return fmt.Errorf("idle: %w", err)
		case <-renew.C:
			c.NetConn().SetWriteDeadline(time.Now().Add(e.cfg.timeout))
			if _, err := fmt.Fprintf(c.NetConn(), "DONE\r\n%s IDLE\r\n", c.NextTag()); err != nil {
				return err
			}
		}
	}
}

// deliverer delivers one message over LMTP every cfg.deliverEvery to the
// users in turn, on one LMTP session (a new one after an error).
func (e *wellEnv) deliverer(ctx context.Context, users []string) {
	var l *lmtpClient
	defer func() {
		if l != nil {
			l.close()
		}
	}()
	tick := time.NewTicker(e.cfg.deliverEvery)
	defer tick.Stop()
	for i := 0; ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if l == nil {
			var err error
			if l, err = dialLMTP(ctx, e.lmtp, "", e.cfg.timeout); err != nil {
				e.rec.fail("lmtp", err)
				continue
			}
		}
		user := users[i%len(users)]
		id := e.newID("lmtp")
		err := e.timed("lmtp", func() error {
			codes, err := l.deliver([]string{user + "@example.org"}, textMessage(id, "soak delivery", 1000),
				func() { e.wakes.set(user, time.Now()) })
			if err == nil && (len(codes) != 1 || codes[0] != 250) {
				err = fmt.Errorf("delivery replies %v", codes)
			}
			return err
		})
		if err != nil {
			l.close()
			l = nil
			continue
		}
		e.led.add(user, "INBOX", id)
	}
}

// reMarker finds a marker header in a FETCH response.
var reMarker = regexp.MustCompile(`(?i)` + markerHeader + `: (\S+)`)

// lost logs in as each user (retrying for up to bound, in case a guessing
// attack has locked the user out) and returns the acknowledged messages
// not found, as "user/mailbox/id".
func (e *wellEnv) lost(ctx context.Context, bound time.Duration) ([]string, error) {
	var missing []string
	e.led.mu.Lock()
	acked := e.led.acked
	e.led.mu.Unlock()
	for _, user := range sortedKeys(acked) {
		var c *imaptest.Conn
		deadline := time.Now().Add(bound)
		for {
			var err error
			if c, err = login(ctx, e.imap, "", user, password(user), e.cfg.timeout); err == nil {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return nil, fmt.Errorf("final check: %s cannot log in: %w", user, err)
			}
			sleepCtx(ctx, 5*time.Second)
		}
		for _, mb := range sortedKeys(acked[user]) {
			found := map[string]bool{}
			c.Timeout = 5 * time.Minute
			err := okOrErr(c.Command("EXAMINE "+imaptest.Quote(mb), nil))
			if err == nil {
				err = okOrErr(c.Command("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS ("+markerHeader+")])", func(r string) {
					if m := reMarker.FindStringSubmatch(r); m != nil {
						found[m[1]] = true
					}
				}))
			}
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("final check %s/%s: %w", user, mb, err)
			}
			for _, id := range acked[user][mb] {
				if !found[id] {
					missing = append(missing, user+"/"+mb+"/"+id)
				}
			}
		}
		c.Close()
	}
	return missing, nil
}
