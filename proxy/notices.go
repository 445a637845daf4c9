package proxy

import (
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/notice"
)

// Notices is where the proxy hears of changes (package notice over
// NATS: NATSNotices).
//
// A user with a session at the proxy costs one subscription, so its
// state is kept small: one handler for every user (HandleNotices), and
// the subscription itself to cancel it, with no closure or map entry of
// the proxy's around it.
type Notices interface {
	// HandleNotices sets the function called with every notice of a
	// subscribed user (the proxy's, set once by New, before any
	// subscription). A notice may still arrive just after its user's
	// subscription was cancelled.
	HandleNotices(fn func(notice.Notice))
	// SubscribeUser subscribes to every notice about user's mailboxes
	// until the subscription's Unsubscribe. It is in force when
	// SubscribeUser returns (the NATS server knows the interest), so
	// that no change made after it can be missed.
	SubscribeUser(user string) (Subscription, error)
}

// Subscription is one user's notice subscription (a *nats.Subscription).
type Subscription interface {
	Unsubscribe() error
}

// notifyKey is the mailbox a sleeper with NOTIFY state waits on in the
// table: it wakes on any notice of its user, whatever the mailbox. No
// store name holds a NUL.
const notifyKey = "\x00notify"

// waitKey is the mailbox the sleeper of st waits on in the table.
func waitKey(st *hibernate.State) string {
	if hasNotify(st) {
		return notifyKey
	}
	return mailstore.CanonicalName(st.Mailbox)
}

// hasNotify reports whether st holds NOTIFY state (kind ExtSession).
func hasNotify(st *hibernate.State) bool {
	for _, x := range st.ExtState {
		if x.Kind == hibernate.ExtSession {
			return true
		}
	}
	return false
}

// wakes reports whether n must wake the sleeper of st: one with NOTIFY
// on any notice of its user; one in IDLE when n changes what it knows
// of its mailbox. A quiet sleeper between commands learns at its next
// command.
func wakes(st *hibernate.State, n *notice.Notice) bool {
	if hasNotify(st) {
		return true
	}
	return st.IdleTag != "" && st.Mailbox != "" && n.Changes(st.Mailbox, st.UIDValidity, st.HighestModSeq, st.UIDNext)
}

// onNotice is the subscription's callback: it wakes the sleepers of the
// user that n concerns. The user's notice count moves under h.mu, in one
// step with the walk of the table: a sleeper taken out of the table
// before (by its client's DONE, or the keepalive ticker) recorded the
// count without this notice and sees it when re-armed (arm), and one
// still in the table is found here. Counted before the lock, a sleeper
// taken in between recorded a count with the notice and was found by
// neither.
func (p *Proxy) onNotice(n notice.Notice) {
	if !n.At.IsZero() {
		p.metrics.noticeLag.Observe(time.Since(n.At).Seconds())
	}
	p.metrics.notices.Inc()
	p.log.Debug("notice", "user", n.User, "mailbox", n.Mailbox, "kind", n.Kind, "hms", n.HighestModSeq, "uidnext", n.UIDNext)
	h := p.sleep
	var toks []hibernate.Token
	h.mu.Lock()
	p.users.noted(&n)
	subs := h.table.Subscriptions()
	for _, m := range []string{n.Mailbox, n.OldName, notifyKey} {
		if m == "" {
			continue
		}
		if m != notifyKey {
			m = mailstore.CanonicalName(m)
		}
		if id, ok := subs.Lookup(n.User, m); ok {
			toks = h.table.AppendWaiters(toks, id)
		}
	}
	var owned []*sleeper
	for _, tok := range toks {
		blob, err := h.table.AppendBlob(nil, tok)
		if err != nil {
			continue
		}
		var st hibernate.State
		if st.UnmarshalBinary(blob) != nil || !wakes(&st, &n) {
			continue
		}
		if s := h.own(tok); s != nil {
			owned = append(owned, s)
		}
	}
	h.wakeOwned(owned, wakeNotice)
	h.mu.Unlock()
}

// Resync wakes every sleeper in IDLE or with NOTIFY once, and makes
// every one being answered meanwhile wake as it is re-armed: after a
// NATS reconnect, notices may have been lost (core NATS is at most
// once), and the backend computes the exact changes on XRESUME. A lost
// notice costs a wake, never a missed change. The counts move under
// h.mu, in one step with the walk, as in onNotice.
func (p *Proxy) Resync() {
	h := p.sleep
	h.mu.Lock()
	p.users.noteAll()
	var owned []*sleeper
	for _, tok := range h.table.AppendTokens(nil) {
		blob, err := h.table.AppendBlob(nil, tok)
		if err != nil {
			continue
		}
		var st hibernate.State
		if st.UnmarshalBinary(blob) != nil || (st.IdleTag == "" && !hasNotify(&st)) {
			continue
		}
		if s := h.own(tok); s != nil {
			owned = append(owned, s)
		}
	}
	h.wakeOwned(owned, wakeResync)
	h.mu.Unlock()
}

// wakeOwned starts the wake of each owned sleeper on a goroutine of its
// own (h.mu held: the goroutines are counted before Close can wait).
func (h *hibernator) wakeOwned(owned []*sleeper, why string) {
	for _, s := range owned {
		h.p.metrics.wakes.WithLabelValues(why).Inc()
		h.p.wg.Add(1)
		go func() {
			defer h.p.wg.Done()
			h.wake(s, nil)
		}()
	}
}
