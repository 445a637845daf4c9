package imapserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// hibernator holds the server's hibernated connections (docs/design.md "The life
// of a connection"): a Table of state blobs and descriptors, one
// epoll Poller for all their sockets, one store watch per (user, mailbox)
// through the Table's subscription hooks, and one keepalive ticker.
type hibernator struct {
	srv    *Server
	poller *hibernate.Poller

	mu    sync.Mutex // guards everything below; the Table is not concurrent
	table *hibernate.Table
	// watches holds, by subscription ID, the release of the store's disk
	// watch on its mailbox. Its changes come through one store watch on
	// every user (storeEvent), not a bus subscription per mailbox. IDs
	// are small and reused, so a slice costs less than a map per
	// sleeping user.
	watches []func()
	unwatch func() // ends the watch on every user
	// earlyPasses holds, per subscription, the passes of early events
	// still telling its sleepers (storeEvent).
	earlyPasses map[hibernate.SubID][]chan struct{}
	// busy holds the sleepers a goroutine serves in place (disarmed but
	// still in the table, see serve); true when a mailbox change came
	// meanwhile, which that goroutine then applies before re-arming.
	busy map[hibernate.Token]bool
	// between holds the sleepers whose IDLE a DONE ended (answered
	// asleep) and that wait for their next command, since when: the
	// idle timeout applies to them as to an active session between
	// commands, and keepalives do not.
	between map[hibernate.Token]time.Time
	// tls holds the tls.Conn of each TLS sleeper (see sleeper); the
	// Table keeps only the descriptor under it.
	tls    map[hibernate.Token]*tls.Conn
	closed bool

	stop chan struct{}
	wg   sync.WaitGroup // the keepalive goroutine and wakes in flight
}

// Wake causes, a metric label of full wakes.
const (
	wakeClient  = "client"
	wakeMailbox = "mailbox"
)

// What a sleeper answers without waking, a metric label.
const (
	servedReidle = "reidle" // DONE and a new IDLE
	servedUpdate = "update" // a mailbox change announced in place
)

func newHibernator(s *Server) (*hibernator, error) {
	h := &hibernator{
		srv:         s,
		earlyPasses: make(map[hibernate.SubID][]chan struct{}),
		busy:        make(map[hibernate.Token]bool),
		between:     make(map[hibernate.Token]time.Time),
		tls:         make(map[hibernate.Token]*tls.Conn),
		stop:        make(chan struct{}),
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
	h.wg.Add(1)
	go h.keepalives()
	return h, nil
}

// subscribe runs inside Table.Insert (h.mu held) for the first sleeper on
// a mailbox: the store keeps the mailbox watched on disk until the last
// sleeper leaves.
func (h *hibernator) subscribe(id hibernate.SubID, user, mailbox string) {
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
	var pass chan struct{}
	if ok && ev.Early != nil {
		// The committed event follows soon; it waits for this pass
		// (mailboxChanged), which leaves most sleepers current.
		pass = make(chan struct{})
		h.earlyPasses[id] = append(h.earlyPasses[id], pass)
	}
	h.mu.Unlock()
	if pass != nil {
		go func() {
			defer h.endEarlyPass(id, pass)
			h.mailboxChanged(id, false, ev)
		}()
	} else if ok {
		go h.mailboxChanged(id, full, ev)
	}
	if okOld && (!ok || old != id) {
		go h.mailboxChanged(old, full, ev)
	}
}

// endEarlyPass marks the pass of an early event over.
func (h *hibernator) endEarlyPass(id hibernate.SubID, pass chan struct{}) {
	h.mu.Lock()
	h.earlyPasses[id] = slices.DeleteFunc(h.earlyPasses[id], func(c chan struct{}) bool { return c == pass })
	if len(h.earlyPasses[id]) == 0 {
		delete(h.earlyPasses, id)
	}
	h.mu.Unlock()
	close(pass)
}

// unsubscribe runs inside Table.Remove (h.mu held) for the last sleeper.
func (h *hibernator) unsubscribe(id hibernate.SubID) {
	if int(id) < len(h.watches) && h.watches[id] != nil {
		h.watches[id]()
		h.watches[id] = nil
	}
}

// sleep hibernates a connection whose session was exported to st and
// whose transport is s. On error s is closed: the connection is lost, as
// after a failed write.
func (h *hibernator) sleep(s sleeper, st *hibernate.State) (hibernate.Token, error) {
	blob, err := st.MarshalBinary()
	if err != nil {
		s.close()
		return 0, fmt.Errorf("hibernate: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.bye(byeShutdown)
		return 0, errShutdown
	}
	now := time.Now()
	tok, err := h.table.Insert(s.fd, st.User, mailstore.CanonicalName(st.Mailbox), blob, now)
	if err != nil {
		s.close()
		return 0, fmt.Errorf("hibernate: %w", err)
	}
	if s.tc != nil {
		h.tls[tok] = s.tc
	}
	// Add after Insert: a byte already waiting fires at once, and the
	// callback finds the entry.
	if err := h.poller.Add(s.fd, uint64(tok)); err != nil {
		h.table.Remove(tok)
		delete(h.tls, tok)
		s.close()
		return 0, fmt.Errorf("hibernate: %w", err)
	}
	m := h.srv.cfg.Metrics
	m.connState("hibernated", 1)
	m.hibernated(len(blob))
	if slept := h.srv.cfg.Slept; slept != nil {
		slept(now)
	}
	return tok, nil
}

// changedToken applies a mailbox change to one sleeper (as
// mailboxChanged does for all of a mailbox's), unless it woke already.
func (h *hibernator) changedToken(tok hibernate.Token) {
	h.mu.Lock()
	own := !h.closed && h.acquire(tok)
	h.mu.Unlock()
	if own {
		go h.serve(tok, false, nil)
	}
}

// acquire makes the caller the owner of sleeper tok, to serve it in place
// (h.mu held): the descriptor is disarmed and tok is marked busy; the
// caller ends with finish or fullWake. False when tok is gone, or owned
// already (then marked dirty, so that its owner applies the change), or
// its descriptor fired (the poller's callback will own it, and finds it
// dirty). h.wg counts an owner.
func (h *hibernator) acquire(tok hibernate.Token) bool {
	info, err := h.table.Lookup(tok)
	if err != nil {
		return false
	}
	if _, ok := h.busy[tok]; ok {
		h.busy[tok] = true
		return false
	}
	if h.poller.Remove(info.FD) != nil {
		h.busy[tok] = true
		return false
	}
	h.busy[tok] = false
	h.wg.Add(1)
	return true
}

// take removes a sleeper from the table and returns its transport and
// blob; whoever takes it owns the wake. The caller holds h.mu and has
// disarmed (or seen fire) the descriptor in the poller.
func (h *hibernator) take(tok hibernate.Token) (s sleeper, blob []byte, since time.Time, err error) {
	info, err := h.table.Lookup(tok)
	if err != nil {
		return sleeper{fd: -1}, nil, time.Time{}, err
	}
	blob, err = h.table.AppendBlob(nil, tok)
	if err != nil {
		return sleeper{fd: -1}, nil, time.Time{}, err
	}
	s = h.sleeperOf(tok, info)
	h.remove(tok, info)
	return s, blob, info.Since, nil
}

// sleeperOf returns the transport of sleeper tok (h.mu held).
func (h *hibernator) sleeperOf(tok hibernate.Token, info hibernate.Info) sleeper {
	return sleeper{fd: info.FD, tc: h.tls[tok]}
}

// byeShutdown is what a sleeper is told when the server shuts down.
const byeShutdown = "* BYE Server shutting down\r\n"

// remove ends a sleep (h.mu held): the entry leaves the table and the
// metrics count the time it slept.
func (h *hibernator) remove(tok hibernate.Token, info hibernate.Info) {
	h.table.Remove(tok)
	delete(h.busy, tok)
	delete(h.between, tok)
	delete(h.tls, tok)
	h.srv.cfg.Metrics.slept(time.Since(info.Since))
}

// clientReady is the poller's callback: the client sent bytes (or closed).
// The poller disarmed the descriptor, so no mailbox change can acquire
// it; one that came meanwhile marked it dirty. It must not block: the
// bytes are read on the owner's goroutine.
func (h *hibernator) clientReady(token uint64) {
	tok := hibernate.Token(token)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	if _, err := h.table.Lookup(tok); err != nil {
		h.mu.Unlock()
		return // taken by Shutdown
	}
	if _, owned := h.busy[tok]; !owned {
		h.busy[tok] = false // owned now, no change pending yet
	}
	h.wg.Add(1)
	h.mu.Unlock()
	go h.serve(tok, true, nil)
}

// mailboxChanged applies a change of a mailbox to all its sleepers: each
// is sent the untagged updates in place and stays asleep (serve), or,
// with full or when that cannot be done exactly, is woken. The mailbox
// is opened once for all of them; for an early event (ev.Early) it is not
// opened at all: the event tells what changed.
func (h *hibernator) mailboxChanged(id hibernate.SubID, full bool, ev mailstore.Event) {
	h.mu.Lock()
	if ev.Early == nil {
		// Let the early passes in flight finish first: the sleepers
		// they told are then skipped below instead of served twice.
		for passes := h.earlyPasses[id]; len(passes) > 0; passes = h.earlyPasses[id] {
			h.mu.Unlock()
			<-passes[0]
			h.mu.Lock()
		}
	}
	if h.closed {
		h.mu.Unlock()
		return
	}
	user, mailbox := h.table.Subscriptions().Key(id)
	toks := h.table.AppendWaiters(nil, id)
	owned := toks[:0]
	var blob []byte
	for _, tok := range toks {
		if !full && ev.Early == nil && ev.HighestModSeq > 0 {
			// A sleeper that knows the change already (told by its
			// early event) is left asleep: for 5,000 sleepers of one
			// mailbox this is 5,000 disarms, serves and re-arms less.
			var err error
			if blob, err = h.table.AppendBlob(blob[:0], tok); err == nil {
				if m, err := hibernate.HighestModSeqOf(blob); err == nil && m >= ev.HighestModSeq {
					continue
				}
			}
		}
		if h.acquire(tok) {
			owned = append(owned, tok)
		}
	}
	h.mu.Unlock()
	if len(owned) == 0 {
		return
	}
	var src changeReader = earlySource{ev}
	if ev.Early == nil {
		store := newChangeSource(h.srv.cfg.Store, user, mailbox)
		defer store.close()
		src = store
	}
	for _, tok := range owned {
		if full {
			h.fullWake(tok, wakeMailbox, nil, nil, nil)
			continue
		}
		h.serve(tok, false, src)
	}
}

// keepalives sends lineStillHere to sleepers, from one ticker for all
// (RFC 2177 3 asks servers to keep idle clients' NAT mappings alive).
// Unlike an active IDLE's ticker, the interval counts from hibernation.
func (h *hibernator) keepalives() {
	defer h.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var due []hibernate.Token
	line := []byte(lineStillHere)
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.mu.Lock()
			due = h.table.AppendDueKeepalives(due[:0], now)
			for _, tok := range due {
				info, err := h.table.Lookup(tok)
				if err != nil {
					continue
				}
				if _, busy := h.busy[tok]; busy {
					continue // its owner may be writing; the next tick sends it
				}
				if _, ok := h.between[tok]; ok {
					continue // not in IDLE
				}
				s := h.sleeperOf(tok, info)
				n, werr := s.write(line)
				h.srv.cfg.Metrics.wrote(n)
				if werr == nil {
					continue
				}
				// The client is gone or not reading: drop it, as an
				// active IDLE does after a failed write.
				if h.poller.Remove(info.FD) != nil {
					continue // a wake is in flight; it will see the error
				}
				h.remove(tok, info)
				s.close()
			}
			h.autologout(now)
			h.mu.Unlock()
		}
	}
}

// setBetween notes whether sleeper tok is between commands (true) or in
// IDLE (false).
func (h *hibernator) setBetween(tok hibernate.Token, between bool) {
	h.mu.Lock()
	if between {
		h.between[tok] = time.Now()
	} else {
		delete(h.between, tok)
	}
	h.mu.Unlock()
}

// autologout ends the sleepers that have waited for a command longer
// than the idle timeout, as waitForCommand ends an active session (h.mu
// held).
func (h *hibernator) autologout(now time.Time) {
	limit := h.srv.limits.IdleTimeout
	for tok, since := range h.between {
		if now.Sub(since) < limit {
			continue
		}
		if _, busy := h.busy[tok]; busy {
			continue
		}
		info, err := h.table.Lookup(tok)
		if err != nil || h.poller.Remove(info.FD) != nil {
			continue // a wake is in flight; the woken session times out itself
		}
		s := h.sleeperOf(tok, info)
		h.remove(tok, info)
		s.bye("* BYE Autologout; idle for too long\r\n")
	}
}

// shutdown says BYE to every sleeper and closes it, then waits for wakes
// in flight (they see the server closing and say BYE themselves).
func (h *hibernator) shutdown() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.stop)
	h.mu.Unlock()
	h.unwatch()
	// After Close no callback runs; descriptors still armed are ours,
	// those being served belong to their owners.
	h.poller.Close()
	h.mu.Lock()
	var due []hibernate.Token
	// Every sleeper's keepalive is due within one interval: walking the
	// wheel that far finds them all without a second index.
	due = h.table.AppendDueKeepalives(due, time.Now().Add(2*h.srv.cfg.IdleKeepalive))
	for _, tok := range due {
		info, err := h.table.Lookup(tok)
		if err != nil {
			continue
		}
		if _, busy := h.busy[tok]; busy {
			continue // its owner sees h.closed and says BYE
		}
		s := h.sleeperOf(tok, info)
		s.bye(byeShutdown)
		h.remove(tok, info)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// errHibernated ends a session goroutine whose connection now sleeps.
var errHibernated = errors.New("connection hibernated")
