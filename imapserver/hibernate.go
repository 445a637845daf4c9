package imapserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// hibernator holds the server's hibernated connections (docs/design.md "The life
// of a connection"): a Table of state blobs and descriptors, one
// epoll Poller for all their sockets, one store watch per (user, mailbox)
// through the Table's subscription hooks, and one keepalive ticker. Each
// sleeper is in one phase (sleeper_state.go), which says who may touch
// it; nothing waits for a client while holding h.mu: writes, reads, BYEs
// and TLS closes are done by a sleeper's owner after it let go of h.mu,
// and a TLS one, which may wait for its client, on a goroutine of its
// own.
type hibernator struct {
	srv    *Server
	poller *hibernate.Poller

	mu    sync.Mutex // guards everything below; the Table is not concurrent
	table *hibernate.Table
	// states holds the phase of every sleeper that is not simply
	// idling (set), and of the sleepers that left the table to wake or
	// to close.
	states map[hibernate.Token]sleeperState
	// watches holds, by subscription ID, the release of the store's disk
	// watch on its mailbox. Its changes come through one store watch on
	// every user (storeEvent), not a bus subscription per mailbox. IDs
	// are small and reused, so a slice costs less than a map per
	// sleeping user.
	watches []func()
	// memos holds, by subscription ID, the memo of each mailbox whose
	// sleepers answered keepalive commands asleep (hibernate_memo.go).
	memos   []*mailboxMemo
	unwatch func() // ends the watch on every user
	// unwatchEarly ends the watch on early announcements
	// (hibernate_early.go); a no-op when the store makes none.
	unwatchEarly func()
	// tls holds the tls.Conn of each TLS sleeper (see sleeper); the
	// Table keeps only the descriptor under it.
	tls map[hibernate.Token]*tls.Conn
	// notifiers holds the NOTIFY of each sleeper that has one
	// (notify_sleep.go).
	notifiers map[hibernate.Token]sleeperNotify
	// held holds the raw input a sleeper read that is not yet a whole
	// answerable command, until its rest arrives (hibernate_held.go).
	held   map[hibernate.Token][]byte
	closed bool
	// pass, set with closed by handOver, takes the sleepers to the
	// process that replaces this one, instead of a BYE.
	pass func(sleeper, []byte)

	stop          chan struct{}
	keepaliveDone chan struct{}  // closed when the keepalive goroutine ends
	owners        sync.WaitGroup // sleepers with an owner (phase.hasOwner)
}

// Wake causes, a metric label of full wakes.
const (
	wakeClient  = "client"
	wakeMailbox = "mailbox"
)

// What a sleeper answers without waking, a metric label.
const (
	servedReidle  = "reidle"  // DONE and a new IDLE
	servedUpdate  = "update"  // a mailbox change announced in place
	servedCommand = "command" // NOOP or CHECK between commands
	servedNotify  = "notify"  // NOTIFY events of other mailboxes
)

func newHibernator(s *Server) (*hibernator, error) {
	h := &hibernator{
		srv:           s,
		states:        make(map[hibernate.Token]sleeperState),
		tls:           make(map[hibernate.Token]*tls.Conn),
		notifiers:     make(map[hibernate.Token]sleeperNotify),
		held:          make(map[hibernate.Token][]byte),
		stop:          make(chan struct{}),
		keepaliveDone: make(chan struct{}),
	}
	h.table = hibernate.NewTable(hibernate.TableConfig{
		Keepalive:     s.cfg.IdleKeepalive,
		OnSubscribe:   h.subscribe,
		OnUnsubscribe: h.unsubscribe,
	})
	p, err := hibernate.NewPoller(h.clientReady)
	if err != nil {
		return nil, fmt.Errorf("imapserver: hibernation poller: %w", err)
	}
	h.poller = p
	h.unwatch = s.cfg.Store.Watch("", "", h.storeEvent)
	h.unwatchEarly = func() {}
	if ea, ok := s.cfg.Store.(mailstore.EarlyAnnouncer); ok {
		h.unwatchEarly = ea.WatchEarly(h.earlyAdded)
	}
	go h.keepalives()
	return h, nil
}

// subscribe runs inside Table.Insert (h.mu held) for the first sleeper on
// a mailbox: the store keeps the mailbox watched on disk until the last
// sleeper leaves. The sleepers of a user with no mailbox selected share
// a subscription with mailbox "" that watches nothing on disk.
func (h *hibernator) subscribe(id hibernate.SubID, user, mailbox string) {
	if mailbox == "" {
		return
	}
	if int(id) >= len(h.watches) {
		h.watches = append(h.watches, make([]func(), int(id)+1-len(h.watches))...)
	}
	h.watches[id] = h.srv.cfg.Store.Watch(user, mailbox, nil)
}

// storeEvent hears every user's change events (one subscription for all
// sleepers, so a sleeping user costs no bus entry) and wakes the sleepers
// of the mailbox concerned. The store's publisher calls it after releasing
// its own lock (notify.Bus), but it must not block that publisher: it
// hands the wake to a goroutine.
func (h *hibernator) storeEvent(ev mailstore.Event) {
	full := false
	switch ev.Kind {
	case mailstore.MessagesAdded, mailstore.FlagsChanged, mailstore.MessagesExpunged:
	case mailstore.MailboxDeleted, mailstore.MailboxRenamed:
		// The woken session says BYE, as an active one would.
		full = true
	default:
		return
	}
	h.mu.Lock()
	id, ok := h.table.Subscriptions().Lookup(ev.User, mailstore.CanonicalName(ev.Mailbox))
	old, okOld := hibernate.SubID(0), false
	if ev.OldName != "" {
		old, okOld = h.table.Subscriptions().Lookup(ev.User, mailstore.CanonicalName(ev.OldName))
	}
	h.mu.Unlock()
	if ok {
		go h.mailboxChanged(id, full, ev)
	}
	if okOld && (!ok || old != id) {
		go h.mailboxChanged(old, full, ev)
	}
}

// unsubscribe runs inside Table.Remove (h.mu held) for the last sleeper.
func (h *hibernator) unsubscribe(id hibernate.SubID) {
	if int(id) < len(h.watches) && h.watches[id] != nil {
		h.watches[id]()
		h.watches[id] = nil
	}
	if int(id) < len(h.memos) {
		h.memos[id] = nil
	}
}

// sleep hibernates a connection whose session was exported to st and
// whose transport is s; it starts idling (sleeper_state.go), or, for a
// quiet session (no IdleTag), between commands, waiting for one since
// waiting (its autologout counts from then). On error s is closed: the
// connection is lost, as after a failed write. During a handover s is
// passed on to the new process at once (token 0). q is the NOTIFY queue
// of the session (nil without one; a state with NOTIFY adopted in a
// handover gets a new one).
func (h *hibernator) sleep(s sleeper, st *hibernate.State, waiting time.Time, q *notifyQueue) (hibernate.Token, error) {
	s.deflate = compressed(st)
	blob, err := st.MarshalBinary()
	if err != nil {
		s.close()
		if q != nil {
			q.close()
		}
		return 0, fmt.Errorf("hibernate: %w", err)
	}
	nf, hasNotify := h.notifyOfSleeper(st, q)
	h.mu.Lock()
	if h.closed {
		pass := h.pass
		h.mu.Unlock()
		if nf.q != nil {
			nf.q.close()
		}
		if pass != nil {
			pass(s, blob)
			return 0, nil
		}
		s.bye(byeShutdown)
		return 0, errShutdown
	}
	now := time.Now()
	tok, err := h.table.Insert(s.fd, st.User, mailstore.CanonicalName(st.Mailbox), blob, now)
	if err == nil {
		if s.tc != nil {
			h.tls[tok] = s.tc
		}
		if st.IdleTag == "" {
			h.sleepBetween(tok, waiting)
		}
		if hasNotify {
			h.notifiers[tok] = nf
		}
		// Add after Insert: a byte already waiting fires at once, and
		// the callback finds the entry.
		if err = h.poller.Add(s.fd, uint64(tok)); err != nil {
			h.table.Remove(tok)
			delete(h.tls, tok)
			delete(h.states, tok)
			delete(h.notifiers, tok)
		}
	}
	if err != nil {
		h.mu.Unlock()
		s.close()
		if nf.q != nil {
			nf.q.close()
		}
		return 0, fmt.Errorf("hibernate: %w", err)
	}
	// Counted before the sleeper can be taken (h.mu), so the gauge
	// never dips below zero.
	m := h.srv.cfg.Metrics
	m.connState("hibernated", 1)
	m.hibernated(len(blob), transportLabel(s.transport(), s.deflate))
	h.mu.Unlock()
	if slept := h.srv.cfg.Slept; slept != nil {
		slept(now)
	}
	if nf.q != nil {
		// Events that came since the session let go of its queue
		// are told now, as later ones will be.
		nf.q.setPoke(func() { h.notified(tok) })
		if nf.q.due() {
			h.notified(tok)
		}
	}
	return tok, nil
}

// changedToken applies a mailbox change to one sleeper (as
// mailboxChanged does for all of a mailbox's), unless it woke already.
func (h *hibernator) changedToken(tok hibernate.Token) {
	h.mu.Lock()
	own := !h.holdsChanges(tok) && h.acquire(tok, true)
	h.mu.Unlock()
	if own {
		go h.serve(tok, serveChange, nil)
	}
}

// acquire makes the caller the owner of sleeper tok to serve it in place
// (h.mu held): the descriptor is disarmed and the sleeper owned; the
// caller ends with finish, drop or fullWake. False when tok is gone, has
// an owner already, or its descriptor fired (the poller's callback will
// own it). For a mailbox change (change set) the owner, present or on
// its way, is told to apply it: ownedDirty or fired.
func (h *hibernator) acquire(tok hibernate.Token, change bool) bool {
	if h.closed {
		return false
	}
	info, err := h.table.Lookup(tok)
	if err != nil {
		return false
	}
	switch h.phaseOf(tok) {
	case owned:
		if change {
			h.set(tok, ownedDirty)
		}
		return false
	case idling, between:
		if h.poller.Remove(info.FD) != nil {
			if change {
				h.set(tok, fired)
			}
			return false
		}
		h.set(tok, owned)
		return true
	}
	return false
}

// holdsChanges reports whether sleeper tok waits between commands,
// armed (h.mu held): it holds changes back for its next command, which
// reads them in the store (applyChanges from its blob's MODSEQ), so a
// change needs no serve now. Quiet sleepers of a busy mailbox cost
// nothing per change.
// A NOTIFY SELECTED sleeper has them pushed at once, as in IDLE.
func (h *hibernator) holdsChanges(tok hibernate.Token) bool {
	return h.phaseOf(tok) == between && !h.notifiers[tok].pushSelected
}

// take removes a sleeper from the table and returns its transport and
// blob; it goes on to phase to (waking or closing), whose owner is the
// caller (h.mu held). An owned sleeper's descriptor is disarmed already;
// an armed one's the caller has just removed from the poller.
func (h *hibernator) take(tok hibernate.Token, to phase) (s sleeper, blob []byte, since time.Time, err error) {
	info, err := h.table.Lookup(tok)
	if err != nil {
		return sleeper{fd: -1}, nil, time.Time{}, err
	}
	blob, err = h.table.AppendBlob(nil, tok)
	if err != nil {
		return sleeper{fd: -1}, nil, time.Time{}, err
	}
	s, serr := sleeperOf(info.FD, h.tls[tok], blob)
	if serr != nil {
		// Our own blob: a bug. The sleeper leaves the table all the
		// same (its taker closes it).
		h.srv.log.Error("hibernated state", "err", serr)
	}
	h.table.Remove(tok)
	delete(h.tls, tok)
	delete(h.held, tok) // a full wake took them first (fullWake)
	if n, ok := h.notifiers[tok]; ok {
		// A woken session takes the queue over (fullWake took it).
		delete(h.notifiers, tok)
		if to == closing && n.q != nil {
			n.q.close()
		}
	}
	h.set(tok, to)
	h.srv.cfg.Metrics.slept(time.Since(info.Since))
	return s, blob, info.Since, nil
}

// takeArmed takes an armed sleeper out to close it (autologout, kick,
// shutdown; h.mu held); false when it is not armed or its descriptor
// fired, which leaves it to the wake under way.
func (h *hibernator) takeArmed(tok hibernate.Token) (sleeper, bool) {
	if p := h.phaseOf(tok); p != idling && p != between {
		return sleeper{}, false
	}
	info, err := h.table.Lookup(tok)
	if err != nil || h.poller.Remove(info.FD) != nil {
		return sleeper{}, false
	}
	s, _, _, err := h.take(tok, closing)
	return s, err == nil
}

// byeShutdown is what a sleeper is told when the server shuts down.
const byeShutdown = "* BYE Server shutting down\r\n"

// end says line (a BYE; none when empty) to a closing sleeper, closes
// it and lets it go. It must not be called with h.mu held. A TLS
// sleeper's BYE and close_notify may wait for a client that stopped
// reading (sleeperIOTimeout, then tls.Conn.Close's own 5 s), so they run
// on a goroutine of their own: a thousand such clients hold up nobody.
func (h *hibernator) end(tok hibernate.Token, s sleeper, line string) {
	if s.tc != nil && line != "" {
		go h.endNow(tok, s, line)
		return
	}
	h.endNow(tok, s, line)
}

func (h *hibernator) endNow(tok hibernate.Token, s sleeper, line string) {
	if line != "" {
		s.bye(line)
	} else {
		s.close()
	}
	h.mu.Lock()
	h.set(tok, gone)
	h.mu.Unlock()
}

// clientReady is the poller's callback: the client sent bytes (or closed).
// The poller disarmed the descriptor, so no mailbox change can acquire
// it; one that came meanwhile left it fired. It must not block: the
// bytes are read on the owner's goroutine. At shutdown too the callback
// owns the sleeper: the owner says BYE (finish).
func (h *hibernator) clientReady(token uint64) {
	tok := hibernate.Token(token)
	h.mu.Lock()
	if _, err := h.table.Lookup(tok); err != nil {
		h.mu.Unlock()
		return // cannot happen: only an owner takes a fired sleeper
	}
	if h.phaseOf(tok) == fired {
		h.set(tok, ownedDirty)
	} else {
		h.set(tok, owned)
	}
	h.mu.Unlock()
	go h.serve(tok, serveClient, nil)
}

// mailboxChanged applies a change of a mailbox to all its sleepers: each
// is sent the untagged updates in place and stays asleep (serve), or,
// with full or when that cannot be done exactly, is woken. The mailbox
// is opened once for all of them.
func (h *hibernator) mailboxChanged(id hibernate.SubID, full bool, ev mailstore.Event) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	user, mailbox := h.table.Subscriptions().Key(id)
	memo := h.memoOfSubLocked(id, false)
	toks := h.table.AppendWaiters(nil, id)
	mine := toks[:0]
	var tlsOwned []hibernate.Token
	var blob []byte
	for _, tok := range toks {
		if !full && ev.HighestModSeq > 0 {
			// A sleeper that knows the change already (told by an
			// early announcement, hibernate_early.go) is left asleep:
			// for 5,000 sleepers of one mailbox this is 5,000
			// disarms, serves and re-arms less.
			var err error
			if blob, err = h.table.AppendBlob(blob[:0], tok); err == nil {
				if m, err := hibernate.HighestModSeqOf(blob); err == nil && m >= ev.HighestModSeq {
					continue
				}
			}
		}
		if (!full && h.holdsChanges(tok)) || !h.acquire(tok, true) {
			continue
		}
		if h.tls[tok] != nil && !full {
			tlsOwned = append(tlsOwned, tok)
		} else {
			mine = append(mine, tok)
		}
	}
	h.mu.Unlock()
	if len(mine)+len(tlsOwned) == 0 {
		return
	}
	src := newChangeSource(h.srv.cfg.Store, user, mailbox, memo)
	src.at = ev.At
	defer src.close()
	// A TLS write may wait for its client (sleeperIOTimeout): each TLS
	// sleeper is served on a goroutine of its own, so that clients that
	// stopped reading cost their timeouts side by side, not in turn, and
	// hold up no other sleeper. A bare socket's write never waits.
	var wg sync.WaitGroup
	for _, tok := range tlsOwned {
		wg.Go(func() { h.serve(tok, serveChange, src) })
	}
	for _, tok := range mine {
		if full {
			h.fullWake(tok, sleeper{}, wakeMailbox, nil, nil, nil)
			continue
		}
		h.serve(tok, serveChange, src)
	}
	wg.Wait() // before src closes
}

// keepalives sends lineStillHere to sleepers, from one ticker for all
// (RFC 2177 3 asks servers to keep idle clients' NAT mappings alive).
// Unlike an active IDLE's ticker, the interval counts from hibernation.
// Under h.mu it only takes the sleepers whose keepalive is due (owned, so
// that nothing else writes to them meanwhile) and those autologout ends;
// the writes come after, by serve, a TLS one on a goroutine of its own.
func (h *hibernator) keepalives() {
	defer close(h.keepaliveDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var due, plain []hibernate.Token
	var expired []closingSleeper
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			plain, expired = plain[:0], expired[:0]
			h.mu.Lock()
			due = h.table.AppendDueKeepalives(due[:0], now)
			for _, tok := range due {
				// An owned sleeper's owner may be writing (the next
				// interval sends it); one between commands is not in
				// IDLE; a fired one is waking.
				if h.phaseOf(tok) != idling || !h.acquire(tok, false) {
					continue
				}
				if h.tls[tok] != nil {
					go h.serve(tok, serveKeepalive, nil)
				} else {
					plain = append(plain, tok)
				}
			}
			expired = h.autologout(now, expired)
			h.mu.Unlock()
			for _, tok := range plain {
				h.serve(tok, serveKeepalive, nil)
			}
			for _, c := range expired {
				h.end(c.tok, c.s, "* BYE "+byeAutologout+"\r\n")
			}
		}
	}
}

// closingSleeper is a sleeper taken to be closed (phase closing).
type closingSleeper struct {
	tok hibernate.Token
	s   sleeper
}

// autologout takes the sleepers that have waited for a command longer
// than the idle timeout, as waitForCommand ends an active session, and
// appends them to dst for end (h.mu held).
func (h *hibernator) autologout(now time.Time, dst []closingSleeper) []closingSleeper {
	limit := h.srv.limits.IdleTimeout
	for tok, st := range h.states {
		if st.phase != between || now.Sub(st.since) < limit {
			continue
		}
		if s, ok := h.takeArmed(tok); ok {
			dst = append(dst, closingSleeper{tok, s})
		}
	}
	return dst
}

// shutdown says BYE to every sleeper and closes it, then waits for the
// sleepers with an owner (who see the server closing and say BYE
// themselves, or whose woken session does).
func (h *hibernator) shutdown() { h.stopAll(nil) }

// handOver ends the hibernator as shutdown does, but passes every sleeper
// on with pass instead of saying BYE (an upgrade, handover.go): those
// armed now, those whose owner finishes (finish), and those that go to
// sleep from now on (insert), until the server is gone. pass runs
// without h.mu, on the goroutine that took the sleeper.
func (h *hibernator) handOver(pass func(sleeper, []byte)) { h.stopAll(pass) }

// stopAll ends the hibernator; see shutdown and handOver.
func (h *hibernator) stopAll(pass func(sleeper, []byte)) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.pass = pass
	close(h.stop)
	h.mu.Unlock()
	<-h.keepaliveDone
	h.unwatchEarly()
	h.unwatch()
	// After Close no callback runs: every sleeper whose descriptor fired
	// is owned now, and those still armed are ours.
	h.poller.Close()
	type taken struct {
		closingSleeper
		blob []byte
	}
	h.mu.Lock()
	var all []taken
	for _, tok := range h.table.AppendTokens(nil) {
		if p := h.phaseOf(tok); p != idling && p != between {
			continue
		}
		// Input held for its rest cannot go with the descriptor
		// and blob: that connection is closed, not passed on.
		_, partial := h.held[tok]
		if s, blob, _, err := h.take(tok, closing); err == nil {
			if partial && pass != nil {
				blob = nil
			}
			all = append(all, taken{closingSleeper{tok, s}, blob})
		}
	}
	h.mu.Unlock()
	for _, c := range all {
		switch {
		case pass == nil:
			h.end(c.tok, c.s, byeShutdown)
		case c.blob == nil:
			h.end(c.tok, c.s, "")
		default:
			h.passOn(c.tok, c.s, c.blob)
		}
	}
	h.owners.Wait()
}

// passOn hands a closing sleeper to the handover (h.pass) and lets it go.
func (h *hibernator) passOn(tok hibernate.Token, s sleeper, blob []byte) {
	h.pass(s, blob)
	h.mu.Lock()
	h.set(tok, gone)
	h.mu.Unlock()
}

// errHibernated ends a session goroutine whose connection now sleeps.
var errHibernated = errors.New("connection hibernated")
