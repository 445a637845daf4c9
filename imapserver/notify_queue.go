package imapserver

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// maxNotifyPending bounds a session's pending NOTIFY events (after
// coalescing): past it the session is told NOTIFICATIONOVERFLOW and
// NOTIFY is off (RFC 5465 5.8), so a client that never reads costs a
// bounded queue.
const maxNotifyPending = 1000

// notifyEntry is one pending event of a notifyQueue. The message events
// of one mailbox are coalesced into one entry (kind MessagesAdded, the
// events seen in events): they are told as one STATUS with the counts
// at the time of telling.
type notifyEntry struct {
	kind             mailstore.EventKind
	mailbox, oldName string
	events           notifyEvents // message entries: which events came
	entries          []string     // MetadataChanged
}

// notifyQueue hears a NOTIFY session's user-wide store events and keeps
// them until the session tells them. It outlives hibernation: a sleeper
// keeps its queue (hibernator.notifiers), and a woken session takes it
// over, so that no event falls between the two watches.
type notifyQueue struct {
	cancel func()

	mu       sync.Mutex
	pending  []notifyEntry
	overflow bool
	// own are the changes the session is making (conn.ownChange):
	// their events are not told back to it.
	own []ownChange
	// poke tells the queue's current owner (an awake session or the
	// hibernator) that events wait; it must not block.
	poke func()
}

// newNotifyQueue watches user's mailboxes (on disk too) into a new
// queue.
func newNotifyQueue(store mailstore.Store, user string) *notifyQueue {
	q := &notifyQueue{}
	q.cancel = store.Watch(user, "", q.add)
	return q
}

// add is the store watch's callback: it runs on the publisher's
// goroutine, so it only records the event.
func (q *notifyQueue) add(ev mailstore.Event) {
	e := notifyEntry{kind: ev.Kind, mailbox: mailstore.CanonicalName(ev.Mailbox), oldName: mailstore.CanonicalName(ev.OldName)}
	switch ev.Kind {
	case mailstore.MessagesAdded:
		e.events = evMessageNew
	case mailstore.MessagesExpunged:
		e.kind, e.events = mailstore.MessagesAdded, evMessageExpunge
	case mailstore.FlagsChanged:
		e.kind, e.events = mailstore.MessagesAdded, evFlagChange
	case mailstore.MetadataChanged:
		e.entries = ev.Entries
	case mailstore.MailboxCreated, mailstore.MailboxDeleted, mailstore.MailboxRenamed, mailstore.SubscriptionsChanged:
	default:
		return
	}
	q.mu.Lock()
	if slices.ContainsFunc(q.own, func(o ownChange) bool { return o.covers(ev) }) {
		q.mu.Unlock()
		return
	}
	merged := false
	if e.kind == mailstore.MessagesAdded {
		for i := range q.pending {
			if p := &q.pending[i]; p.kind == mailstore.MessagesAdded && p.mailbox == e.mailbox {
				p.events |= e.events
				merged = true
				break
			}
		}
	}
	if !merged && !q.overflow {
		if len(q.pending) >= maxNotifyPending {
			q.overflow = true
			q.pending = nil
		} else {
			q.pending = append(q.pending, e)
		}
	}
	poke := q.poke
	q.mu.Unlock()
	if poke != nil {
		poke()
	}
}

// ownChange is a mailbox change a session is making: the events of kind
// for names (and, but for metadata, their parents and children: a CREATE
// makes parents, a RENAME moves children) are its own. RFC 5465 5: the
// server SHOULD NOT notify a client of the events it caused itself.
type ownChange struct {
	kind  mailstore.EventKind
	names []string
}

// covers says whether ev is one of o's.
func (o ownChange) covers(ev mailstore.Event) bool {
	if ev.Kind != o.kind {
		return false
	}
	for _, n := range o.names {
		for _, m := range []string{ev.Mailbox, ev.OldName} {
			m = mailstore.CanonicalName(m)
			if m == n || o.kind != mailstore.MetadataChanged && n != "" && m != "" &&
				(strings.HasPrefix(m, n+"/") || strings.HasPrefix(n, m+"/")) {
				return true
			}
		}
	}
	return false
}

// ownChange marks the change of kind to names that the session is about
// to make as its own until done is called (after the store call, which
// publishes its events before it returns).
func (c *conn) ownChange(kind mailstore.EventKind, names ...string) (done func()) {
	if c.notify == nil || c.notify.q == nil {
		return func() {}
	}
	q := c.notify.q
	o := ownChange{kind: kind, names: names}
	q.mu.Lock()
	q.own = append(q.own, o)
	q.mu.Unlock()
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.own = slices.DeleteFunc(q.own, func(x ownChange) bool { return x.kind == o.kind && slices.Equal(x.names, o.names) })
	}
}

// take returns the pending events and empties the queue; overflow says
// the queue overflowed (the events are gone).
func (q *notifyQueue) take() (evs []notifyEntry, overflow bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs, overflow = q.pending, q.overflow
	q.pending, q.overflow = nil, false
	return evs, overflow
}

// due says whether events wait.
func (q *notifyQueue) due() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) > 0 || q.overflow
}

// setPoke makes poke the queue's owner's signal.
func (q *notifyQueue) setPoke(poke func()) {
	q.mu.Lock()
	q.poke = poke
	q.mu.Unlock()
}

// close ends the queue's watch.
func (q *notifyQueue) close() {
	q.setPoke(nil)
	q.cancel()
}

// notifyState is an awake session's NOTIFY: its groups, and the queue of
// its other mailboxes' events (nil when it watches the selected mailbox
// only). sig wakes an IDLE reading the client's line.
type notifyState struct {
	spec *notifySpec
	q    *notifyQueue
	sig  chan struct{}
}

// ctxUser is a user's mail and the context to read it in.
type ctxUser struct {
	ctx context.Context
	u   mailstore.User
}

// startNotify makes spec the session's NOTIFY; q, when set, is a queue
// taken over from hibernation.
func (c *conn) startNotify(spec *notifySpec, q *notifyQueue) {
	n := &notifyState{spec: spec, q: q, sig: make(chan struct{}, 1)}
	switch {
	case q == nil && spec.watchesOthers():
		n.q = newNotifyQueue(c.srv.cfg.Store, c.username)
	case q != nil && !spec.watchesOthers():
		q.close()
		n.q = nil
	}
	if n.q != nil {
		n.q.setPoke(func() {
			select {
			case n.sig <- struct{}{}:
			default:
			}
			c.interruptForPush()
		})
	}
	c.notify = n
	c.pushSelected.Store(spec.pushesSelected())
}

// stopNotify ends the session's NOTIFY (NOTIFY NONE, a new NOTIFY SET,
// overflow, the end of the session).
func (c *conn) stopNotify() {
	if c.notify != nil && c.notify.q != nil {
		c.notify.q.close()
	}
	c.notify = nil
	c.pushSelected.Store(false)
}

// notifySig is the channel that wakes an IDLE for NOTIFY events; nil
// (never ready) without a queue.
func (c *conn) notifySig() chan struct{} {
	if c.notify == nil || c.notify.q == nil {
		return nil
	}
	return c.notify.sig
}

// notifyDue says whether NOTIFY events of other mailboxes wait.
func (c *conn) notifyDue() bool {
	return c.notify != nil && c.notify.q != nil && c.notify.q.due()
}

// pushDue says whether a session waiting for a command has something to
// push: NOTIFY events, or with NOTIFY SELECTED a change of its mailbox.
func (c *conn) pushDue() bool {
	return c.notifyDue() || (c.pushSelected.Load() && c.sel != nil && len(c.sel.notify) > 0)
}

// interruptForPush wakes the session goroutine when it waits for the
// client's first byte (between commands or in IDLE), to push NOTIFY
// events.
func (c *conn) interruptForPush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if (c.waiting || c.idlePeek) && c.nc != nil {
		c.nc.SetReadDeadline(time.Unix(1, 0))
	}
}

// push writes, between commands, what NOTIFY has the session push: its
// selected mailbox's changes (SELECTED) and the other mailboxes' events.
func (c *conn) push() error {
	if c.pushSelected.Load() {
		if err := c.sendUpdates(true); err != nil {
			return err
		}
	}
	c.sendNotify()
	return c.flush()
}

// sendNotify writes the pending NOTIFY events of other mailboxes.
func (c *conn) sendNotify() {
	n := c.notify
	if n == nil || n.q == nil {
		return
	}
	evs, overflow := n.q.take()
	if overflow {
		c.stopNotify()
		c.w.Raw(notificationOverflow)
		return
	}
	if len(evs) == 0 {
		return
	}
	selected := ""
	if c.sel != nil {
		selected = c.sel.name
	}
	writeNotifications(ctxUser{c.ctx, c.user}, n.spec, selected, c.enabled, evs, c.w)
}
