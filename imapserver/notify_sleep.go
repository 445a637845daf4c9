package imapserver

import (
	"bufio"
	"bytes"
	"context"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapwire"
)

// A NOTIFY session hibernates like any other (in IDLE or between
// commands): its groups go into the state blob (extNotify), its selected
// mailbox into the shared subscription table as for every sleeper, and
// the hibernator keeps what the blob cannot hold: the queue of its other
// mailboxes' events (notifyQueue, a user-wide store watch that outlives
// the sleep), and whether it has its selected mailbox's changes pushed
// between commands (NOTIFY SELECTED). Events are told in place by serve,
// as IDLE updates are: the selected mailbox's through applyChanges, the
// others' through writeNotifications, the awake session's function.

// sleeperNotify is what the hibernator keeps of a NOTIFY sleeper.
type sleeperNotify struct {
	q            *notifyQueue // nil when only the selected mailbox is watched
	pushSelected bool         // NOTIFY SELECTED: changes are pushed between commands
}

// notifyOfSleeper returns the queue a sleeper of state st is to keep: q,
// an awake session's, or a new one for a state adopted in a handover;
// nil when st has no NOTIFY watching other mailboxes. A q not kept is
// closed.
func (h *hibernator) notifyOfSleeper(st *hibernate.State, q *notifyQueue) (sleeperNotify, bool) {
	spec, err := notifyOf(st)
	if err != nil || spec == nil {
		if q != nil {
			q.close()
		}
		return sleeperNotify{}, false
	}
	if q == nil && spec.watchesOthers() {
		q = newNotifyQueue(h.srv.cfg.Store, st.User)
	}
	return sleeperNotify{q: q, pushSelected: spec.pushesSelected()}, true
}

// notified is a NOTIFY sleeper's queue's poke: events wait. Like a
// mailbox change (changedToken), the sleeper is served now, or its
// owner, present or on its way, is told (ownedDirty, fired).
func (h *hibernator) notified(tok hibernate.Token) {
	h.mu.Lock()
	own := h.acquire(tok, true)
	h.mu.Unlock()
	if own {
		go h.serve(tok, serveNotify, nil)
	}
}

// notifierOf returns a sleeper's NOTIFY (its zero value without one).
func (h *hibernator) notifierOf(tok hibernate.Token) sleeperNotify {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.notifiers[tok]
}

// forgetNotifier ends a sleeper's NOTIFY after an overflow (h.mu not
// held): the blob, without its groups, is stored by the caller.
func (h *hibernator) forgetNotifier(tok hibernate.Token) {
	h.mu.Lock()
	n := h.notifiers[tok]
	delete(h.notifiers, tok)
	h.mu.Unlock()
	if n.q != nil {
		n.q.close()
	}
}

// sleeperNotifications is what an awake session with state st would
// push of q's events: the lines writeNotifications writes, with the
// user's mail opened for them. With next set, NOTIFY overflowed: out is
// the NOTIFICATIONOVERFLOW line and next the state without NOTIFY.
func (h *hibernator) sleeperNotifications(st *hibernate.State, q *notifyQueue) (out []byte, next *hibernate.State) {
	evs, overflow := q.take()
	if overflow {
		n := *st
		n.ExtState = append([]hibernate.ExtState(nil), st.ExtState...)
		withNotify(&n, nil)
		return []byte(notificationOverflow), &n
	}
	if len(evs) == 0 {
		return nil, nil
	}
	spec, err := notifyOf(st)
	if err != nil || spec == nil {
		return nil, nil
	}
	ctx := context.Background()
	u, err := h.srv.cfg.Store.User(ctx, st.User)
	if err != nil {
		h.srv.log.Warn("notify", "user", st.User, "err", err)
		return nil, nil
	}
	defer u.Close()
	var buf bytes.Buffer
	bw := bufio.NewWriterSize(&buf, 512)
	w := imapwire.NewWriter(bw)
	en := enabledOf(st.Enabled)
	w.UTF8 = en.utf8
	writeNotifications(ctxUser{ctx, u}, spec, st.Mailbox, en, evs, w)
	bw.Flush()
	return buf.Bytes(), nil
}
