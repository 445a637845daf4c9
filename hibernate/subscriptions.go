package hibernate

import (
	"fmt"
	"hash/maphash"
	"math/bits"
)

// SubID names a subscription: one (user, mailbox) that at least one
// hibernated connection waits on. IDs are reused once a subscription has
// no waiters left.
type SubID uint32

// noIndex ends the intrusive lists below; real indexes are smaller.
const noIndex = ^uint32(0)

// link is a node of a doubly-linked list threaded through a slice by
// index, so the lists hold no pointers and removal is O(1).
type link struct {
	next, prev uint32
}

// sub is one subscription: its key, the head of its waiter list and its
// size. The key's bytes (user then mailbox) live in the arena, so that
// nothing here is a pointer.
type sub struct {
	hash    uint64
	chain   uint32 // next subscription with the same hash, or noIndex
	head    uint32 // first waiter, or noIndex
	count   uint32 // waiters; 0 when the slot is free
	keySlot uint32
	userLen uint16
	mboxLen uint16
	keyCls  uint8
}

// Subscriptions is the shared subscription table: one subscription per
// (user, mailbox), however many connections wait on it, each waiter
// costing only a list link. 100,000 phones on one INBOX are one
// subscription (and one change-bus subscription in the server), and a
// delivery to that INBOX walks their list without touching anyone else.
//
// Waiters are small integers (Table entry indexes). Everything is kept in
// pointer-free slices and a map from key hash to subscription, which
// holds no pointers either, so the garbage collector scans none of it
// however many users sleep. It is not safe for concurrent use.
type Subscriptions struct {
	seed  maphash.Seed
	ids   map[uint64]uint32 // key hash -> first subscription in its chain
	subs  []sub
	free  []SubID // unused slots of subs
	keys  arena
	links []link   // by waiter index
	of    []uint32 // by waiter index: SubID+1, 0 when not waiting
	live  int
}

// NewSubscriptions returns an empty table sized for waiters up to
// capacity (it grows beyond that as needed).
func NewSubscriptions(capacity int) *Subscriptions {
	return &Subscriptions{
		seed:  maphash.MakeSeed(),
		ids:   make(map[uint64]uint32),
		links: make([]link, 0, capacity),
		of:    make([]uint32, 0, capacity),
	}
}

// MaxKey is the longest user name plus mailbox name a subscription takes.
const MaxKey = MaxBlob

// hash mixes the two names' hashes; unlike maphash.Hash it copies
// nothing. The rotation keeps (a, b) and (b, a) apart, and the key
// comparison in find makes any collision harmless.
func (s *Subscriptions) hash(user, mailbox string) uint64 {
	return bits.RotateLeft64(maphash.String(s.seed, user), 29) ^ maphash.String(s.seed, mailbox)
}

func (s *Subscriptions) find(h uint64, user, mailbox string) (SubID, bool) {
	id, ok := s.ids[h]
	if !ok {
		return 0, false
	}
	for ; id != noIndex; id = s.subs[id].chain {
		sb := &s.subs[id]
		k := s.keys.slot(sb.keyCls, sb.keySlot)
		if int(sb.userLen) == len(user) && int(sb.mboxLen) == len(mailbox) &&
			string(k[:sb.userLen]) == user && string(k[sb.userLen:sb.userLen+sb.mboxLen]) == mailbox {
			return SubID(id), true
		}
	}
	return 0, false
}

// Join adds waiter to the subscription of (user, mailbox), creating it
// if waiter is its first. The caller compares names as the store does
// (INBOX is case-insensitive, RFC 9051 5.1). A waiter is on at most one
// list: joining again first leaves the previous one.
func (s *Subscriptions) Join(user, mailbox string, waiter uint32) (id SubID, created bool, err error) {
	if len(user)+len(mailbox) > MaxKey {
		return 0, false, fmt.Errorf("hibernate: subscribe: %d-byte key: %w", len(user)+len(mailbox), ErrBlobSize)
	}
	s.Leave(waiter)
	h := s.hash(user, mailbox)
	id, ok := s.find(h, user, mailbox)
	if !ok {
		id = s.create(h, user, mailbox)
		created = true
	}
	for int(waiter) >= len(s.links) {
		s.links = append(s.links, link{noIndex, noIndex})
		s.of = append(s.of, 0)
	}
	sb := &s.subs[id]
	s.links[waiter] = link{next: sb.head, prev: noIndex}
	if sb.head != noIndex {
		s.links[sb.head].prev = waiter
	}
	sb.head = waiter
	sb.count++
	s.of[waiter] = uint32(id) + 1
	return id, created, nil
}

func (s *Subscriptions) create(h uint64, user, mailbox string) SubID {
	var id SubID
	if n := len(s.free); n > 0 {
		id = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		id = SubID(len(s.subs))
		s.subs = append(s.subs, sub{})
	}
	cls, slot := s.keys.alloc(len(user) + len(mailbox))
	k := s.keys.slot(cls, slot)
	copy(k[copy(k, user):], mailbox)
	chain, ok := s.ids[h]
	if !ok {
		chain = noIndex
	}
	s.subs[id] = sub{hash: h, chain: chain, head: noIndex, keySlot: slot, keyCls: cls,
		userLen: uint16(len(user)), mboxLen: uint16(len(mailbox))}
	s.ids[h] = uint32(id)
	s.live++
	return id
}

func (s *Subscriptions) delete(id SubID) {
	sb := &s.subs[id]
	if head := s.ids[sb.hash]; head == uint32(id) {
		if sb.chain == noIndex {
			delete(s.ids, sb.hash)
		} else {
			s.ids[sb.hash] = sb.chain
		}
	} else {
		p := head
		for s.subs[p].chain != uint32(id) {
			p = s.subs[p].chain
		}
		s.subs[p].chain = sb.chain
	}
	s.keys.free(sb.keyCls, sb.keySlot)
	*sb = sub{head: noIndex, chain: noIndex}
	s.free = append(s.free, id)
	s.live--
}

// Leave takes waiter off its subscription. When it was the last waiter
// the subscription is deleted and removed reports true, so the caller can
// stop watching that mailbox.
func (s *Subscriptions) Leave(waiter uint32) (id SubID, removed bool) {
	if int(waiter) >= len(s.of) || s.of[waiter] == 0 {
		return 0, false
	}
	id = SubID(s.of[waiter] - 1)
	s.of[waiter] = 0
	l := s.links[waiter]
	sb := &s.subs[id]
	if l.prev != noIndex {
		s.links[l.prev].next = l.next
	} else {
		sb.head = l.next
	}
	if l.next != noIndex {
		s.links[l.next].prev = l.prev
	}
	s.links[waiter] = link{noIndex, noIndex}
	sb.count--
	if sb.count > 0 {
		return id, false
	}
	s.delete(id)
	return id, true
}

// Of returns the subscription waiter is on.
func (s *Subscriptions) Of(waiter uint32) (SubID, bool) {
	if int(waiter) >= len(s.of) || s.of[waiter] == 0 {
		return 0, false
	}
	return SubID(s.of[waiter] - 1), true
}

// Lookup returns the subscription of (user, mailbox), if any connection
// waits on it.
func (s *Subscriptions) Lookup(user, mailbox string) (SubID, bool) {
	return s.find(s.hash(user, mailbox), user, mailbox)
}

// Key returns the user and mailbox of a live subscription.
func (s *Subscriptions) Key(id SubID) (user, mailbox string) {
	u, m := s.keyBytes(id)
	return string(u), string(m)
}

// keyBytes is Key without the copies; the slices are valid until the
// subscription ends.
func (s *Subscriptions) keyBytes(id SubID) (user, mailbox []byte) {
	if int(id) >= len(s.subs) || s.subs[id].count == 0 {
		return nil, nil
	}
	sb := &s.subs[id]
	k := s.keys.slot(sb.keyCls, sb.keySlot)
	return k[:sb.userLen], k[sb.userLen : sb.userLen+sb.mboxLen]
}

// Waiters returns how many connections wait on id.
func (s *Subscriptions) Waiters(id SubID) int {
	if int(id) >= len(s.subs) {
		return 0
	}
	return int(s.subs[id].count)
}

// Len returns the number of live subscriptions.
func (s *Subscriptions) Len() int { return s.live }

// AppendWaiters appends the waiters of id to dst, most recent first.
// Collecting them first, rather than calling back, lets the caller wake
// or remove them in any order without invalidating the walk.
func (s *Subscriptions) AppendWaiters(dst []uint32, id SubID) []uint32 {
	if int(id) >= len(s.subs) {
		return dst
	}
	for w := s.subs[id].head; w != noIndex; w = s.links[w].next {
		dst = append(dst, w)
	}
	return dst
}
