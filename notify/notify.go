// Package notify is Dormouse's in-process change bus: publishers (the mail
// store, delivery) post mailstore.Event values and subscribers (sessions,
// the hibernation table) receive them.
//
// Subscriptions are per user and mailbox, or per user for all mailboxes.
// Callbacks run on the publisher's goroutine, outside any lock of the bus,
// so they must not block: a subscriber that needs to do work coalesces the
// event into a buffered channel or a flag.
package notify

import (
	"strings"
	"sync"

	"github.com/dormouse/dormouse/mailstore"
)

// Bus delivers events to subscribers. The zero value is not usable; use
// New. A Bus is safe for concurrent use.
type Bus struct {
	mu     sync.RWMutex
	nextID uint64
	// subs maps user, then mailbox ("" for all mailboxes), then
	// subscription id to the callback.
	subs map[string]map[string]map[uint64]func(mailstore.Event)
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{subs: make(map[string]map[string]map[uint64]func(mailstore.Event))}
}

// normMailbox makes "inbox" and "INBOX" the same key (INBOX is
// case-insensitive, RFC 9051 5.1).
func normMailbox(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX" + name[5:]
	}
	return name
}

// Subscribe calls fn for every event of user's mailbox, or of all the
// user's mailboxes when mailbox is "". The returned func cancels the
// subscription; calling it more than once is harmless.
func (b *Bus) Subscribe(user, mailbox string, fn func(mailstore.Event)) (cancel func()) {
	mailbox = normMailbox(mailbox)
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	byBox := b.subs[user]
	if byBox == nil {
		byBox = make(map[string]map[uint64]func(mailstore.Event))
		b.subs[user] = byBox
	}
	m := byBox[mailbox]
	if m == nil {
		m = make(map[uint64]func(mailstore.Event))
		byBox[mailbox] = m
	}
	m[id] = fn
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			delete(b.subs[user][mailbox], id)
			if len(b.subs[user][mailbox]) == 0 {
				delete(b.subs[user], mailbox)
			}
			if len(b.subs[user]) == 0 {
				delete(b.subs, user)
			}
		})
	}
}

// Subscribers reports how many subscriptions watch user's mailbox
// directly, and how many watch all of user's mailboxes.
func (b *Bus) Subscribers(user, mailbox string) (direct, userWide int) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs[user][normMailbox(mailbox)]), len(b.subs[user][""])
}

// Publish delivers ev to the subscribers of ev.Mailbox, of ev.OldName (for
// renames) and of the whole user. Callbacks run after the bus lock is
// released, so a callback may subscribe or cancel.
func (b *Bus) Publish(ev mailstore.Event) {
	var fns []func(mailstore.Event)
	b.mu.RLock()
	byBox := b.subs[ev.User]
	if byBox != nil {
		// "" is the user-wide key; a mailbox and its old name (renames)
		// each add their own subscribers, once.
		names := []string{"", normMailbox(ev.Mailbox)}
		if old := normMailbox(ev.OldName); old != "" && old != names[1] {
			names = append(names, old)
		}
		for i, name := range names {
			if i > 0 && name == "" {
				continue
			}
			for _, fn := range byBox[name] {
				fns = append(fns, fn)
			}
		}
	}
	b.mu.RUnlock()
	for _, fn := range fns {
		fn(ev)
	}
}
