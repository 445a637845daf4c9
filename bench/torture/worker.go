package main

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The one user all clients share, and the mailboxes they share.
const (
	user     = "torture"
	password = "torture-pw"
)

var mailboxes = []string{"INBOX", "Shared-A", "Shared-B"}

// counters counts operations by kind.
type counters struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counters) add(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[string]int)
	}
	c.n[kind]++
}

func (c *counters) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// worker is one client doing random operations on the shared mailboxes.
type worker struct {
	n   int
	rng *rand.Rand
	c   *imapConn
	m   *model
	ops *counters
	ids *atomic.Int64
	// oneInbox keeps the session on INBOX (-one-inbox): every client is a
	// persistent session of the same mailbox, as phones and desktops of
	// one user are.
	oneInbox bool
}

// newID returns a fresh message ID.
func (w *worker) newID() string {
	return fmt.Sprintf("w%d-%d", w.n, w.ids.Add(1))
}

// messageText builds a small message carrying id.
func messageText(id string, size int) string {
	return fmt.Sprintf("From: torture@example.org\r\nTo: torture@example.org\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nSubject: torture %s\r\n"+
		"Message-ID: <%s@torture.example.org>\r\nX-Torture-ID: %s\r\n\r\n%s\r\n", id, id, id, strings.Repeat("x", size))
}

// connect logs in, selects a random mailbox and hooks the view into the
// model.
func (w *worker) connect(addr string) error {
	c, err := dial(addr, user, password)
	if err != nil {
		return err
	}
	c.onUntagged = w.learnFetch
	c.onRecent = func(mb string, uid uint32) { w.m.Recent(key{mb, uid}, w.n) }
	w.c = c
	return c.selectMailbox(w.pickSelect())
}

// pickSelect picks the mailbox to select.
func (w *worker) pickSelect() string {
	if w.oneInbox {
		return "INBOX"
	}
	return mailboxes[w.rng.IntN(len(mailboxes))]
}

// learnFetch teaches the model every UID-to-ID pair a FETCH shows.
func (w *worker) learnFetch(mb, line string) {
	if msg, ok := parseFetch(line); ok && msg.id != "" {
		w.m.Learn(key{mb, msg.uid}, msg.id)
	}
}

var (
	reAppendUID = regexp.MustCompile(`\[APPENDUID \d+ (\d+)\]`)
	reCopyUID   = regexp.MustCompile(`\[COPYUID \d+ ([\d:,]+) ([\d:,]+)\]`)
)

// step runs one random operation. An error means the connection failed;
// the operation's effects are then uncertain and recorded as such.
func (w *worker) step() error {
	mb := w.c.selected
	other := mailboxes[w.rng.IntN(len(mailboxes))]
	pick := func(n int) int { return w.rng.IntN(n) }
	var (
		kind      string
		maybeIDs  []string
		maybeGone []key
		lines     []string
		status    string
		err       error
		okNeeded  bool
		onOK      func()
	)
	switch r := w.rng.IntN(100); {
	case r < 22:
		kind = "APPEND"
		if w.oneInbox && w.rng.IntN(3) > 0 {
			other = "INBOX"
		}
		id := w.newID()
		maybeIDs = []string{id}
		flags := []string{"", `(\Seen) `, `(\Flagged $T1) `}[w.rng.IntN(3)]
		msg := messageText(id, w.rng.IntN(2000))
		lines, status, err = w.c.run(fmt.Sprintf("APPEND %s %s{%d+}\r\n%s", quote(other), flags, len(msg), msg))
		okNeeded = true
		onOK = func() {
			m := reAppendUID.FindStringSubmatch(status)
			if m == nil {
				w.m.mu.Lock()
				w.m.violate("APPEND OK without APPENDUID: %q", status)
				w.m.mu.Unlock()
				return
			}
			uids, _ := parseUIDSet(m[1])
			w.m.Created(key{other, uids[0]}, id)
		}
	case r < 38:
		kind = "STORE"
		uids := w.m.Live(mb, pick, 3)
		if len(uids) == 0 {
			return nil
		}
		sign := []string{"+", "-"}[w.rng.IntN(2)]
		flag := []string{`\Seen`, `\Flagged`, `$T1`, `$T2`}[w.rng.IntN(4)]
		lines, status, err = w.c.run(fmt.Sprintf("UID STORE %s %sFLAGS (%s)", formatUIDs(uids), sign, flag))
	case r < 60:
		move := r >= 50
		kind = "COPY"
		if move {
			kind = "MOVE"
		}
		uids := w.m.Live(mb, pick, 3)
		if len(uids) == 0 || other == mb {
			return nil
		}
		for _, u := range uids {
			maybeIDs = append(maybeIDs, w.m.ID(key{mb, u}))
			if move {
				maybeGone = append(maybeGone, key{mb, u})
			}
		}
		lines, status, err = w.c.run(fmt.Sprintf("UID %s %s %s", kind, formatUIDs(uids), quote(other)))
		onOK = func() {
			for _, l := range append(lines, status) {
				if m := reCopyUID.FindStringSubmatch(l); m != nil {
					src, _ := parseUIDSet(m[1])
					dst, _ := parseUIDSet(m[2])
					w.m.Copied(mb, other, src, dst, move)
				}
			}
		}
	case r < 68:
		kind = "EXPUNGE"
		uids := w.m.Live(mb, pick, 2)
		if len(uids) == 0 {
			return nil
		}
		set := formatUIDs(uids)
		if _, st, err := w.c.run(`UID STORE ` + set + ` +FLAGS.SILENT (\Deleted)`); err != nil || !strings.HasPrefix(st, "OK") {
			return err
		}
		for _, u := range uids {
			maybeGone = append(maybeGone, key{mb, u})
		}
		lines, status, err = w.c.run("UID EXPUNGE " + set)
		onOK = func() { w.m.Expunged(maybeGone) }
	case r < 74:
		kind = "FETCH"
		lines, status, err = w.c.run("UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-Torture-ID)])")
	case r < 77:
		// By sequence number: no EXPUNGE may come (RFC 9051 7.5.1), and
		// every message of the session's view must be answered.
		kind = "FETCH seq"
		lines, status, err = w.c.checkFetchAll([]string{"UID FLAGS", "UID FLAGS ENVELOPE", "UID RFC822.SIZE INTERNALDATE"}[w.rng.IntN(3)])
	case r < 80:
		kind = "SEARCH"
		lines, status, err = w.c.run([]string{"UID SEARCH UNSEEN", "UID SEARCH FLAGGED", "UID SEARCH HEADER X-Torture-ID w1"}[w.rng.IntN(3)])
	case r < 85:
		// By sequence number: the answer must match the session's view.
		kind = "SEARCH seq"
		sk := searchKeys[w.rng.IntN(len(searchKeys))]
		w.c.expectSearch = &sk
		lines, status, err = w.c.run("SEARCH " + sk.key)
		w.c.expectSearch = nil
	case r < 93:
		kind = "IDLE"
		status, err = w.idle(time.Duration(30+w.rng.IntN(270)) * time.Millisecond)
	case r < 95:
		kind = "STATUS"
		lines, status, err = w.c.run("STATUS " + quote(other) + " (MESSAGES UIDNEXT RECENT UNSEEN)")
	case r < 97:
		kind = "LIST"
		lines, status, err = w.c.run(`LIST "" "*"`)
	default:
		kind = "SELECT"
		err = w.c.selectMailbox(w.pickSelect())
		status = "OK"
	}
	if err == nil {
		err = w.c.fill()
	}
	if err != nil {
		w.m.Uncertain(maybeIDs, maybeGone)
		return fmt.Errorf("%s: %w", kind, err)
	}
	w.ops.add(kind)
	if !strings.HasPrefix(status, "OK") {
		if okNeeded {
			w.m.mu.Lock()
			w.m.violate("%s refused: %s", kind, status)
			w.m.mu.Unlock()
		}
		w.ops.add(kind + " refused")
		return nil
	}
	if onOK != nil {
		onOK()
	}
	return nil
}

// idle idles for d (long enough to hibernate) and ends with DONE; the
// updates that came meanwhile are read after DONE, in order.
func (w *worker) idle(d time.Duration) (string, error) {
	c := w.c
	tag := c.NextTag()
	if err := c.Send(tag + " IDLE"); err != nil {
		return "", err
	}
	for {
		l, err := c.ReadResponse()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(l, "+") {
			break
		}
		if strings.HasPrefix(l, tag+" ") {
			return strings.TrimPrefix(l, tag+" "), nil
		}
		c.untagged(l)
	}
	time.Sleep(d)
	c.NetConn().SetDeadline(time.Now().Add(opTimeout))
	if err := c.Send("DONE"); err != nil {
		return "", err
	}
	return c.ReadTagged(tag, c.untagged)
}
