package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dormouse/dormouse/internal/imaptest"
)

// imapConn is a raw IMAP client (imaptest.Conn) that tracks the selected
// mailbox as the server describes it in untagged responses: the UID at
// each sequence number and each message's flags. That tracked view is
// what the checkpoints compare with the store.
type imapConn struct {
	*imaptest.Conn
	selected string
	view     view
	// onUntagged, when set, sees every untagged response (the model
	// learns UID-to-ID mappings from FETCH responses through it).
	onUntagged func(mailbox, line string)
	// onRecent, when set, hears every UID a FETCH showed with \Recent
	// (the model checks that no other session holds it).
	onRecent func(mailbox string, uid uint32)
	// expectSearch, when set, is the SEARCH just sent: the next "* SEARCH"
	// response must answer the sequence numbers of the view it matches,
	// as the view is when the response arrives (checkSearch).
	expectSearch *searchKey
	// fetched collects the sequence numbers FETCH responses answered,
	// when not nil (checkFetchAll).
	fetched map[int]bool
	// bad records protocol-level surprises in the view: violations.
	bad []string
}

// view is a client's picture of its selected mailbox: what the server
// told this session, and nothing else.
type view struct {
	uids  []uint32          // by sequence number - 1; 0 = not learned yet
	flags map[uint32]string // sorted, space-separated, without \Recent
	// recent holds the UIDs a FETCH showed with \Recent (IMAP4rev1): a
	// message is recent in one session only (RFC 3501 2.3.2).
	recent map[uint32]bool
}

// opTimeout bounds one command's round trip; a server that hangs longer is
// reported as an error.
const opTimeout = 30 * time.Second

func dial(addr, user, password string) (*imapConn, error) {
	raw, _, err := imaptest.Dial(context.Background(), addr, imaptest.DialOptions{Timeout: opTimeout})
	if err != nil {
		return nil, err
	}
	if err := raw.Login(user, password); err != nil {
		raw.Close()
		return nil, err
	}
	return &imapConn{Conn: raw}, nil
}

func (c *imapConn) close() { c.Close() }

func quote(s string) string { return imaptest.Quote(s) }

// run sends one command and reads to its tagged response, feeding every
// untagged response to the view. It returns the untagged responses and
// the tagged status ("OK ...", "NO ...").
func (c *imapConn) run(cmd string) ([]string, string, error) {
	var lines []string
	st, err := c.Command(cmd, func(l string) {
		lines = append(lines, l)
		c.untagged(l)
	})
	return lines, st, err
}

var (
	reExists  = regexp.MustCompile(`^\* (\d+) EXISTS$`)
	reExpunge = regexp.MustCompile(`^\* (\d+) EXPUNGE$`)
	reFetch   = regexp.MustCompile(`^\* (\d+) FETCH \(`)
	reUID     = regexp.MustCompile(`[( ]UID (\d+)`)
	reFlags   = regexp.MustCompile(`FLAGS \(([^)]*)\)`)
	reModseq  = regexp.MustCompile(`MODSEQ \((\d+)\)`)
	reTortID  = regexp.MustCompile(`(?i)X-Torture-ID: (\S+)`)
	reRecent  = regexp.MustCompile(`(?i)FLAGS \([^)]*\\Recent[ )]`)
)

// untagged updates the view from one untagged response, and checks a
// SEARCH answer against it.
func (c *imapConn) untagged(l string) {
	if c.selected == "" {
		return
	}
	if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok && c.expectSearch != nil {
		c.checkSearch(strings.TrimSpace(rest))
		return
	}
	if m := reExists.FindStringSubmatch(l); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n < len(c.view.uids) {
			c.bad = append(c.bad, fmt.Sprintf("%s: EXISTS %d below the %d messages known", c.selected, n, len(c.view.uids)))
			return
		}
		for len(c.view.uids) < n {
			c.view.uids = append(c.view.uids, 0)
		}
		return
	}
	if m := reExpunge.FindStringSubmatch(l); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n < 1 || n > len(c.view.uids) {
			c.bad = append(c.bad, fmt.Sprintf("%s: EXPUNGE %d of %d messages", c.selected, n, len(c.view.uids)))
			return
		}
		delete(c.view.flags, c.view.uids[n-1])
		delete(c.view.recent, c.view.uids[n-1])
		c.view.uids = slices.Delete(c.view.uids, n-1, n)
		return
	}
	m := reFetch.FindStringSubmatch(l)
	if m == nil {
		return
	}
	n, _ := strconv.Atoi(m[1])
	if n < 1 || n > len(c.view.uids) {
		c.bad = append(c.bad, fmt.Sprintf("%s: FETCH for message %d of %d", c.selected, n, len(c.view.uids)))
		return
	}
	uid := c.view.uids[n-1]
	if u := reUID.FindStringSubmatch(l); u != nil {
		got, _ := strconv.ParseUint(u[1], 10, 32)
		if uid != 0 && uid != uint32(got) {
			c.bad = append(c.bad, fmt.Sprintf("%s: message %d has UID %d, was %d", c.selected, n, got, uid))
		}
		uid = uint32(got)
		c.view.uids[n-1] = uid
	}
	if c.fetched != nil {
		c.fetched[n] = true
	}
	if f := reFlags.FindStringSubmatch(l); f != nil && uid != 0 {
		c.view.flags[uid] = normFlags(f[1])
		if reRecent.MatchString(l) {
			if !c.view.recent[uid] && c.onRecent != nil {
				c.onRecent(c.selected, uid)
			}
			c.view.recent[uid] = true
		} else if c.view.recent[uid] {
			c.bad = append(c.bad, fmt.Sprintf("%s: UID %d lost its \\Recent flag in the session", c.selected, uid))
			delete(c.view.recent, uid)
		}
	}
	if c.onUntagged != nil {
		c.onUntagged(c.selected, l)
	}
}

// normFlags sorts flags and drops \Recent, which belongs to a session.
func normFlags(s string) string {
	f := slices.DeleteFunc(strings.Fields(s), func(x string) bool { return strings.EqualFold(x, `\Recent`) })
	slices.Sort(f)
	return strings.Join(f, " ")
}

// selectMailbox selects mb and learns every UID and flag in it.
func (c *imapConn) selectMailbox(mb string) error {
	c.selected = mb
	c.view = view{flags: make(map[uint32]string), recent: make(map[uint32]bool)}
	_, st, err := c.run("SELECT " + quote(mb) + " (CONDSTORE)")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(st, "OK") {
		return fmt.Errorf("SELECT %s: %s", mb, st)
	}
	return c.fill()
}

// fill fetches the UIDs and flags of messages the view has no UID for yet
// (announced by EXISTS).
func (c *imapConn) fill() error {
	first := slices.Index(c.view.uids, 0)
	if first < 0 {
		return nil
	}
	_, st, err := c.run(fmt.Sprintf("FETCH %d:* (UID FLAGS)", first+1))
	if err != nil {
		return err
	}
	if !strings.HasPrefix(st, "OK") {
		return fmt.Errorf("FETCH: %s", st)
	}
	return nil
}

// message is one message as a fresh session sees it.
type message struct {
	uid    uint32
	id     string
	flags  string
	modseq uint64
}

// parseFetch reads UID, flags, MODSEQ and X-Torture-ID from a FETCH response.
func parseFetch(l string) (message, bool) {
	var m message
	u := reUID.FindStringSubmatch(l)
	if u == nil {
		return m, false
	}
	uid, _ := strconv.ParseUint(u[1], 10, 32)
	m.uid = uint32(uid)
	if f := reFlags.FindStringSubmatch(l); f != nil {
		m.flags = normFlags(f[1])
	}
	if ms := reModseq.FindStringSubmatch(l); ms != nil {
		m.modseq, _ = strconv.ParseUint(ms[1], 10, 64)
	}
	if id := reTortID.FindStringSubmatch(l); id != nil {
		m.id = id[1]
	}
	return m, true
}

// checkSearch compares a SEARCH answer (sequence numbers) with the
// sequence numbers of the view that expectSearch matches. A message the
// session has not learned the UID of yet is left out of both sides.
func (c *imapConn) checkSearch(answer string) {
	got := map[int]bool{}
	for _, f := range strings.Fields(answer) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > len(c.view.uids) {
			c.bad = append(c.bad, fmt.Sprintf("%s: SEARCH %s answered %q, the session has %d messages", c.selected, c.expectSearch.key, f, len(c.view.uids)))
			return
		}
		got[n] = true
	}
	for i, uid := range c.view.uids {
		if uid == 0 {
			continue
		}
		want := c.expectSearch.match(uid, c.view.flags[uid], c.view.recent[uid])
		if want != got[i+1] {
			c.bad = append(c.bad, fmt.Sprintf("%s: SEARCH %s answered %v for message %d of %d (UID %d, flags (%s), recent %v), inconsistent with the session's view (answer %q)",
				c.selected, c.expectSearch.key, got[i+1], i+1, len(c.view.uids), uid, c.view.flags[uid], c.view.recent[uid], answer))
			return
		}
	}
}

// checkFetchAll runs a FETCH of every message by sequence number and
// checks that each message of the view was answered: a message the
// session still has (another session's EXPUNGE not told yet) still has
// its UID and flags (RFC 9051 7.5.1), as Dovecot answers.
func (c *imapConn) checkFetchAll(items string) (lines []string, status string, err error) {
	n := len(c.view.uids)
	if n == 0 {
		return nil, "OK", nil
	}
	c.fetched = map[int]bool{}
	defer func() { c.fetched = nil }()
	lines, status, err = c.run(fmt.Sprintf("FETCH 1:%d (%s)", n, items))
	if err != nil || !strings.HasPrefix(status, "OK") {
		return lines, status, err
	}
	c.checkFetched(n, items, status)
	return lines, status, nil
}

// checkFetched reports the first of messages 1 to n that the FETCH just
// run (items, tagged status) did not answer.
func (c *imapConn) checkFetched(n int, items, status string) {
	for seq := 1; seq <= n && seq <= len(c.view.uids); seq++ {
		if !c.fetched[seq] {
			c.bad = append(c.bad, fmt.Sprintf("%s: FETCH 1:%d (%s) did not answer message %d (UID %d), which the session still has; tagged %q",
				c.selected, n, items, seq, c.view.uids[seq-1], status))
			return
		}
	}
}

// searchKey is one SEARCH the workers send, and which messages of the
// session's view it must find.
type searchKey struct {
	key   string
	match func(uid uint32, flags string, recent bool) bool
}

// searchKeys are the SEARCH keys checked against the session's view: by
// flag, keyword, \Recent, and by a header every message has (every
// message's Subject holds "torture"), which must find messages expunged
// by another session that this one has not been told of.
var searchKeys = []searchKey{
	{"FLAGGED", func(_ uint32, f string, _ bool) bool { return hasFlag(f, `\Flagged`) }},
	{"UNSEEN", func(_ uint32, f string, _ bool) bool { return !hasFlag(f, `\Seen`) }},
	{"KEYWORD $T1", func(_ uint32, f string, _ bool) bool { return hasFlag(f, "$T1") }},
	{"RECENT", func(_ uint32, _ string, r bool) bool { return r }},
	{"SUBJECT torture", func(uint32, string, bool) bool { return true }},
	{"SENTBEFORE 1-Jan-2100 NOT DELETED", func(_ uint32, f string, _ bool) bool { return !hasFlag(f, `\Deleted`) }},
}

// hasFlag reports whether a normFlags list holds flag.
func hasFlag(flags, flag string) bool {
	return slices.ContainsFunc(strings.Fields(flags), func(f string) bool { return strings.EqualFold(f, flag) })
}
