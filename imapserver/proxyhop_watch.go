package imapserver

import (
	"sync"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// handoffWatches keeps the folders of mailboxes whose sessions were handed
// off to their proxy watched for a while, through the store's own holds
// (Store.Watch with a nil fn): once every session of a mailbox sleeps at a
// proxy no session here holds it, and a program writing into the Maildir
// directly (no hint, no LMTP) would otherwise be seen by nobody, so no
// notice would reach the proxy. An event on a held mailbox takes the
// store's normal path, which the notice publisher hears.
//
// One hold per user and mailbox however many of its sessions hand off;
// it lasts lease (the idle timeout) after the latest handoff, and at most
// max mailboxes are held at once.
type handoffWatches struct {
	store   mailstore.Store
	lease   time.Duration
	max     int
	metrics *Metrics

	mu     sync.Mutex
	held   map[handoffKey]*handoffHold
	closed bool
}

// handoffKey names one user's mailbox.
type handoffKey struct{ user, mailbox string }

// handoffHold is one held mailbox.
type handoffHold struct {
	release func()      // the store's hold
	until   time.Time   // the lease's end, moved on by each handoff
	timer   *time.Timer // fires at (or after) until
}

// newHandoffWatches returns the handoff holds of a server; nil when max
// is negative (none are kept).
func newHandoffWatches(store mailstore.Store, lease time.Duration, max int, m *Metrics) *handoffWatches {
	if max < 0 {
		return nil
	}
	if max == 0 {
		max = DefaultHandoffWatchMax
	}
	return &handoffWatches{store: store, lease: lease, max: max, metrics: m, held: map[handoffKey]*handoffHold{}}
}

// keep holds user's mailbox watched until lease from now, or renews its
// hold. Past the bound it holds nothing and counts the refusal.
func (h *handoffWatches) keep(user, mailbox string) {
	if h == nil || user == "" || mailbox == "" {
		return
	}
	k := handoffKey{user, mailbox}
	until := time.Now().Add(h.lease)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	if hd := h.held[k]; hd != nil {
		// The timer, when it fires before until, sets itself again.
		hd.until = until
		h.mu.Unlock()
		return
	}
	if len(h.held) >= h.max {
		h.mu.Unlock()
		h.metrics.handoffWatchFull()
		return
	}
	hd := &handoffHold{release: h.store.Watch(user, mailbox, nil), until: until}
	hd.timer = time.AfterFunc(h.lease, func() { h.expire(k, hd) })
	h.held[k] = hd
	n := len(h.held)
	h.mu.Unlock()
	h.metrics.handoffWatches(n)
}

// expire ends hd's hold when its lease is over, or waits for its end.
func (h *handoffWatches) expire(k handoffKey, hd *handoffHold) {
	h.mu.Lock()
	if h.held[k] != hd {
		h.mu.Unlock()
		return
	}
	if left := time.Until(hd.until); left > 0 {
		hd.timer.Reset(left)
		h.mu.Unlock()
		return
	}
	delete(h.held, k)
	n := len(h.held)
	h.mu.Unlock()
	hd.release()
	h.metrics.handoffWatches(n)
}

// close releases every hold; later handoffs hold nothing.
func (h *handoffWatches) close() {
	if h == nil {
		return
	}
	h.mu.Lock()
	held := h.held
	h.held = map[handoffKey]*handoffHold{}
	h.closed = true
	h.mu.Unlock()
	for _, hd := range held {
		hd.timer.Stop()
		hd.release()
	}
	h.metrics.handoffWatches(0)
}
