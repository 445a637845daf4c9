package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// A kind is a client program with the connection habits of a real one;
// each habit is written down from a real client's transcript or
// documentation (README.md, "The kinds").
type kind struct {
	name   string
	habits habits
	// longLived is how many connections one client keeps open between
	// its commands: those should be asleep once the fleet has settled.
	longLived int
	// watches: the client waits for new mail in INBOX (IDLE or NOTIFY),
	// so a delivery's latency can be measured at it.
	watches bool
	run     func(ctx context.Context, cl *client) error
}

// allKinds returns the kinds the fleet knows.
func allKinds() []*kind {
	return []*kind{
		{name: "thunderbird", habits: habits{tls: true, compress: true, utf8: true}, longLived: 5, watches: true, run: runThunderbird},
		{name: "desktop", habits: habits{tls: true, compress: true}, longLived: 4, watches: true, run: runDesktop},
		{name: "phone", habits: habits{tls: true, compress: true}, longLived: 1, watches: true, run: runPhone},
		{name: "sync", habits: habits{tls: true, compress: true}, run: runSync},
		{name: "notify", habits: habits{tls: true, compress: true}, longLived: 1, watches: true, run: runNotify},
		{name: "webmail", habits: habits{}, run: runWebmail},
	}
}

func lookupKind(name string) (*kind, bool) {
	for _, k := range allKinds() {
		if k.name == name {
			return k, true
		}
	}
	return nil, false
}

// folders are the mailboxes a desktop client keeps open beside INBOX
// (Thunderbird 153's, seen 2026-12-07).
var folders = [...]string{"Drafts", "Sent", "Archive"}

// client is one user's client program.
type client struct {
	f    *fleet
	k    *kind
	st   *kindStats
	user string
	rng  *rand.Rand
}

// open dials and logs in with the kind's habits (TLS unless -no-tls,
// COMPRESS unless -no-compress); the connection is closed when ctx ends.
func (cl *client) open(ctx context.Context) (*conn, error) {
	h := cl.k.habits
	h.tls = h.tls && !cl.f.c.NoTLS
	h.compress = h.compress && !cl.f.c.NoCompress
	cn, err := dial(ctx, cl.f.c, h)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { cn.Close() })
	cn.stop = stop
	cn.grew = func(watching bool) {
		if cl.f.seen(cl.user, time.Now()) && !watching {
			cl.st.seenInCommand.Add(1)
		}
	}
	if err := cn.login(cl.user, cl.f.c.Password, h); err != nil {
		cn.Close()
		return nil, err
	}
	if cn.compressed {
		cl.st.compressed.Add(1)
	}
	return cn, nil
}

// jitter draws a duration in [d/2, 3d/2).
func (cl *client) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(cl.rng.Int64N(int64(d)))
}

// firstIn draws the first wait of a periodic habit, in [0, d): the fleet
// does not act in step.
func (cl *client) firstIn(d time.Duration) time.Duration {
	return time.Duration(cl.rng.Int64N(int64(d)))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// selectFolder selects (or, with examine, examines) mailbox, creating it
// first when it does not exist; args follow the name ("(CONDSTORE)").
func (cn *conn) selectFolder(mailbox, args string) error {
	cmd := strings.TrimSpace("SELECT " + mailbox + " " + args)
	if _, err := cn.run(cmd, nil); err != nil {
		if _, cerr := cn.run("CREATE "+mailbox, nil); cerr != nil {
			return fmt.Errorf("%w (and %v)", err, cerr)
		}
		_, err = cn.run(cmd, nil)
		return err
	}
	return nil
}

// watch reads what the server sends to a connection waiting in IDLE (or
// with NOTIFY on), without a deadline, and calls keepalive for each
// "* OK Still here" and newMail when the EXISTS count grows; both run
// with the connection counted busy. It returns when the connection ends.
func (cl *client) watch(ctx context.Context, cn *conn, keepalive, newMail func() error) error {
	step := cn.Timeout
	for {
		// No deadline while waiting: ReadResponse sets one from
		// Timeout, which bounds commands only.
		cn.Timeout = 0
		cn.clearDeadline()
		r, err := cn.ReadResponse()
		cn.Timeout = step
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read: %w", err)
		}
		before := cn.exists
		cn.watching = true
		cn.note(r) // a delivery's EXISTS: seen (cn.grew)
		cn.watching = false
		var act func() error
		switch {
		case r == "* OK Still here":
			cl.st.keepalives.Add(1)
			act = func() error {
				err := keepalive()
				if err == nil {
					cl.st.answered.Add(1)
				}
				return err
			}
		case isExists(r) && cn.exists > before:
			act = newMail
		case strings.HasPrefix(r, "* BYE"):
			return fmt.Errorf("server: %s", r)
		}
		if act == nil {
			continue
		}
		cl.st.busy.Add(1)
		err = act()
		cl.st.busy.Add(-1)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// runThunderbird is Thunderbird 153 ESR as seen on 2026-12-07 (headless,
// MOZ_LOG=IMAP:5; ../shared/real-clients.md): five connections, one per
// watched folder (INBOX, Drafts, Sent, Archive), each SELECTed and in
// IDLE, plus one that stays authenticated with nothing selected and
// sends nothing; COMPRESS DEFLATE and ENABLE UTF8=ACCEPT when offered;
// each "* OK Still here" answered with DONE, NOOP, GETQUOTAROOT of the
// folder when QUOTA is offered (seen against Dormouse), on INBOX also
// `UID FETCH <uidnext>:* (FLAGS)`, then IDLE again 2 s later; new mail
// fetched with `UID fetch n:* (FLAGS)` and `UID fetch u (UID RFC822.SIZE
// BODY.PEEK[])`, during which it ignores EXISTS.
func runThunderbird(ctx context.Context, cl *client) error {
	auth, err := cl.open(ctx)
	if err != nil {
		return err
	}
	cl.st.conn(1)
	defer cl.st.conn(-1)
	if _, err := auth.run(`LIST "" "*"`, nil); err != nil {
		return err
	}
	errs := make(chan error, len(folders)+1)
	for _, mb := range append([]string{"INBOX"}, folders[:]...) {
		go func() { errs <- cl.thunderbirdFolder(ctx, mb) }()
	}
	// The fifth connection: authenticated, quiet, until the end.
	for range len(folders) + 1 {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

func (cl *client) thunderbirdFolder(ctx context.Context, mailbox string) error {
	cn, err := cl.open(ctx)
	if err != nil {
		return err
	}
	cl.st.conn(1)
	defer cl.st.conn(-1)
	if err := cn.selectFolder(mailbox, ""); err != nil {
		return err
	}
	inbox := mailbox == "INBOX"
	if inbox {
		if _, err := cn.run("UID FETCH 1:* (FLAGS)", nil); err != nil {
			return err
		}
	}
	if err := cn.idle(); err != nil {
		return err
	}
	cl.f.started(cl, inbox)
	keepalive := func() error {
		if err := cn.done(); err != nil {
			return err
		}
		if _, err := cn.run("NOOP", nil); err != nil {
			return err
		}
		if cn.caps["QUOTA"] {
			if _, err := cn.run(fmt.Sprintf("getquotaroot %q", mailbox), nil); err != nil {
				return err
			}
		}
		if inbox {
			if _, err := cn.run(fmt.Sprintf("UID FETCH %d:* (FLAGS)", cn.uidNext), nil); err != nil {
				return err
			}
		}
		if err := sleep(ctx, cl.f.c.ReIdle); err != nil {
			return err
		}
		return cn.idle()
	}
	newMail := func() error {
		if err := cn.done(); err != nil {
			return err
		}
		from := cn.uidNext
		var uids []uint32
		if _, err := cn.run(fmt.Sprintf("UID FETCH %d:* (FLAGS)", from), func(r string) {
			if m := reUID.FindStringSubmatch(r); m != nil {
				var u uint32
				fmt.Sscan(m[1], &u)
				if u >= from {
					uids = append(uids, u)
				}
			}
		}); err != nil {
			return err
		}
		for _, u := range uids {
			// Thunderbird ignores EXISTS here: not noted.
			st, err := cn.Command(fmt.Sprintf("UID fetch %d (UID RFC822.SIZE BODY.PEEK[])", u), nil)
			if err == nil && !strings.HasPrefix(st, "OK") {
				err = fmt.Errorf("body fetch: %s", st)
			}
			if err != nil {
				return err
			}
		}
		return cn.idle()
	}
	return cl.watch(ctx, cn, keepalive, newMail)
}

// runDesktop is the desktop client of issue 21's mix: one IDLE on INBOX
// plus a quiet selected connection per other folder, TLS, COMPRESS,
// CONDSTORE (`SELECT ... (CONDSTORE)`, as go-imap and Apple Mail send
// it); a keepalive is answered with DONE and IDLE (imapflow's and
// go-imap's habit: no NOOP), new mail fetched with `UID FETCH n:* (UID
// FLAGS MODSEQ)`, each quiet folder checked with NOOP every few minutes.
func runDesktop(ctx context.Context, cl *client) error {
	errs := make(chan error, len(folders)+1)
	go func() { errs <- cl.desktopInbox(ctx) }()
	for _, mb := range folders {
		go func() { errs <- cl.desktopFolder(ctx, mb) }()
	}
	for range len(folders) + 1 {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

func (cl *client) desktopInbox(ctx context.Context) error {
	cn, err := cl.open(ctx)
	if err != nil {
		return err
	}
	cl.st.conn(1)
	defer cl.st.conn(-1)
	return cl.idleInbox(ctx, cn, "(CONDSTORE)", "(UID FLAGS MODSEQ)")
}

// idleInbox selects INBOX (with selectArgs), waits in IDLE, answers a
// keepalive with DONE and IDLE (imapflow's, go-imap's and the phone
// apps' habit: no NOOP), and fetches new mail with `UID FETCH n:*
// items` before going back to IDLE.
func (cl *client) idleInbox(ctx context.Context, cn *conn, selectArgs, items string) error {
	if err := cn.selectFolder("INBOX", selectArgs); err != nil {
		return err
	}
	if err := cn.idle(); err != nil {
		return err
	}
	cl.f.started(cl, true)
	keepalive := func() error {
		if err := cn.done(); err != nil {
			return err
		}
		return cn.idle()
	}
	newMail := func() error {
		if err := cn.done(); err != nil {
			return err
		}
		if _, err := cn.run(fmt.Sprintf("UID FETCH %d:* %s", cn.uidNext, items), nil); err != nil {
			return err
		}
		return cn.idle()
	}
	return cl.watch(ctx, cn, keepalive, newMail)
}

func (cl *client) desktopFolder(ctx context.Context, mailbox string) error {
	cn, err := cl.open(ctx)
	if err != nil {
		return err
	}
	cl.st.conn(1)
	defer cl.st.conn(-1)
	if err := cn.selectFolder(mailbox, "(CONDSTORE)"); err != nil {
		return err
	}
	return cl.periodically(ctx, cl.f.c.DesktopNoop, func() error {
		cl.st.busy.Add(1)
		defer cl.st.busy.Add(-1)
		_, err := cn.run("NOOP", nil)
		return err
	})
}

// periodically calls fn about every d (drawn in [d/2, 3d/2)), the first
// time after a draw in [0, d) so that the fleet does not act in step,
// until ctx ends or fn fails.
func (cl *client) periodically(ctx context.Context, d time.Duration, fn func() error) error {
	wait := cl.firstIn(d)
	for {
		if err := sleep(ctx, wait); err != nil {
			return nil
		}
		if err := fn(); err != nil {
			return err
		}
		wait = cl.jitter(d)
	}
}

// runPhone is a phone's mail app (K-9 / FairEmail style push): one
// connection over TLS, IDLE on INBOX, a keepalive answered with DONE and
// IDLE, and the connection dropped and opened again now and then (the
// network changes, the OS suspends the app).
func runPhone(ctx context.Context, cl *client) error {
	wait := cl.firstIn(cl.f.c.PhoneReconnect)
	for ctx.Err() == nil {
		if err := cl.phoneSession(ctx, wait); err != nil {
			return err
		}
		cl.st.reconnects.Add(1)
		wait = cl.jitter(cl.f.c.PhoneReconnect)
	}
	return nil
}

func (cl *client) phoneSession(ctx context.Context, life time.Duration) error {
	sctx, cancel := context.WithTimeout(ctx, life)
	defer cancel()
	cn, err := cl.open(sctx)
	if err != nil {
		if sctx.Err() != nil {
			return nil // its life ended while it connected
		}
		return err
	}
	cl.st.conn(1)
	defer cl.st.conn(-1)
	err = cl.idleInbox(sctx, cn, "", "(UID FLAGS)")
	if sctx.Err() != nil {
		err = nil // dropped at the end of its life, mid-command maybe
	}
	cn.Close()
	return err
}

// runSync is a sync tool run from cron or a timer without IDLE (mbsync
// 1.4 as in ../shared/real-clients.md): every few minutes it connects
// (TLS, COMPRESS), lists, selects each folder and fetches its UIDs and
// flags, and logs out.
func runSync(ctx context.Context, cl *client) error {
	return cl.periodically(ctx, cl.f.c.SyncEvery, func() error {
		return cl.session(ctx, func(cn *conn) error {
			if _, err := cn.run(`LIST "" "*"`, nil); err != nil {
				return err
			}
			for _, mb := range append([]string{"INBOX"}, folders[:]...) {
				if err := cn.selectFolder(mb, ""); err != nil {
					return err
				}
				if _, err := cn.run("UID FETCH 1:* (UID FLAGS)", nil); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// runWebmail is a webmail's IMAP side (Roundcube 1.6 as in
// ../shared/real-clients.md): a new connection per page view, over the
// local network without TLS: LOGIN, SELECT INBOX, the page's sort and
// fetch, LOGOUT.
func runWebmail(ctx context.Context, cl *client) error {
	return cl.periodically(ctx, cl.f.c.WebmailEvery, func() error {
		return cl.session(ctx, func(cn *conn) error {
			if err := cn.selectFolder("INBOX", ""); err != nil {
				return err
			}
			list := "UID SEARCH ALL"
			if cn.caps["SORT"] {
				list = "UID SORT (REVERSE ARRIVAL) US-ASCII ALL"
			}
			if _, err := cn.run(list, nil); err != nil {
				return err
			}
			if cn.exists == 0 {
				return nil
			}
			from := max(1, int(cn.exists)-49)
			_, err := cn.run(fmt.Sprintf("FETCH %d:%d (UID FLAGS RFC822.SIZE ENVELOPE)", from, cn.exists), nil)
			return err
		})
	})
}

// session runs one short session: open, fn, LOGOUT, counted busy.
func (cl *client) session(ctx context.Context, fn func(*conn) error) error {
	cl.st.busy.Add(1)
	defer cl.st.busy.Add(-1)
	cn, err := cl.open(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer cn.Close()
	cl.st.sessions.Add(1)
	if err := fn(cn); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	_, err = cn.Command("LOGOUT", nil)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// runNotify is a client that watches several mailboxes with NOTIFY (RFC
// 5465; interimap --notify sends `NOTIFY SET (SELECTED ...) (MAILBOXES
// ...)`): INBOX selected, the other folders watched, no IDLE (NOTIFY
// pushes outside IDLE). A server without NOTIFY: the client is skipped,
// and the report says so.
func runNotify(ctx context.Context, cl *client) error {
	cn, err := cl.open(ctx)
	if err != nil {
		return err
	}
	if !cn.caps["NOTIFY"] || cl.f.c.NoNotify {
		cn.Close()
		cl.st.skipped.Add(1)
		<-ctx.Done()
		return nil
	}
	cl.st.conn(1)
	defer cl.st.conn(-1)
	if err := cn.selectFolder("INBOX", ""); err != nil {
		return err
	}
	for _, mb := range folders {
		if _, err := cn.run("CREATE "+mb, nil); err != nil && !strings.Contains(err.Error(), "ALREADYEXISTS") {
			return err
		}
	}
	if _, err := cn.run("NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (MAILBOXES (Drafts Sent Archive) (MessageNew MessageExpunge))", nil); err != nil {
		return err
	}
	cl.f.started(cl, true)
	newMail := func() error {
		_, err := cn.run(fmt.Sprintf("UID FETCH %d:* (UID FLAGS)", cn.uidNext), nil)
		return err
	}
	return cl.watch(ctx, cn, func() error { return nil }, newMail)
}
