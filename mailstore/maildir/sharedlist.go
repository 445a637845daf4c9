package maildir

import (
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// sharedList is the message list of a mailbox at one state, handed to
// every Snapshot of that state instead of a copy each: the devices of one
// user selecting the same INBOX at about the same time (after a restart,
// or a phone and a laptop) hold one list of 40 bytes per message, and a
// view that changes a message copies only the block of 64 it is in
// (mailstore.MessageList). The list is held weakly:
// it lives as long as a view uses it, and a short time after
// (Store.listLinger) while the index stays open and the mailbox
// unchanged, so that a client that connects anew for each SELECT (as
// webmail does for each page) finds it instead of reading every record
// again; a user's index holding many mailboxes keeps none of their lists
// alive longer than that.
type sharedList struct {
	uidValidity   uint32
	uidNext       uint32
	highestModSeq uint64
	list          mailstore.WeakList
	// held keeps the list alive for Store.listLinger after it was last
	// kept or found; empty once expire (or a change of the mailbox) let
	// go of it. expire runs when the linger is over.
	held   mailstore.MessageList
	expire *time.Timer
}

// lookupList returns the list kept for mailbox id in the state meta
// describes, shared, if there is one.
func (u *userState) lookupList(id uint64, meta mboxMeta) (mailstore.MessageList, bool) {
	u.listMu.Lock()
	defer u.listMu.Unlock()
	l, ok := u.lists[id]
	if !ok {
		return mailstore.MessageList{}, false
	}
	msgs, ok := l.list.List()
	if !ok {
		l.unhold()
		delete(u.lists, id)
		return mailstore.MessageList{}, false
	}
	if !l.shows(meta) {
		// The mailbox moved on: the list lives only as long as the
		// views that still show it.
		l.unhold()
		u.lists[id] = l
		return mailstore.MessageList{}, false
	}
	u.holdLocked(id, &l, msgs)
	return msgs, true
}

// unholdStale lets go of the list kept for mailbox id unless it shows the
// state meta describes, which a change is about to commit: the views that
// show the old state keep it as long as they need it.
func (u *userState) unholdStale(id uint64, meta mboxMeta) {
	u.listMu.Lock()
	defer u.listMu.Unlock()
	l, ok := u.lists[id]
	if !ok || l.held.Len() == 0 || l.shows(meta) {
		return
	}
	l.unhold()
	u.lists[id] = l
}

// shows reports whether the list is of the mailbox state meta describes.
// Every change to a mailbox's messages moves its HIGHESTMODSEQ (expunges
// included) or its UIDNEXT, so the three numbers name the list.
func (l *sharedList) shows(meta mboxMeta) bool {
	return l.uidValidity == meta.uidValidity && l.uidNext == meta.uidNext && l.highestModSeq == meta.highestModSeq
}

// holdLocked keeps msgs, the list of l, alive for the linger from now.
// listMu held.
func (u *userState) holdLocked(id uint64, l *sharedList, msgs mailstore.MessageList) {
	d := u.s.listLinger
	if d <= 0 {
		return
	}
	l.held = msgs
	if l.expire != nil {
		l.expire.Reset(d) // runs letGo again if it already ran
	} else {
		list := l.list
		l.expire = time.AfterFunc(d, func() { u.letGo(id, list) })
	}
	u.lists[id] = *l
}

// letGo ends the linger of list, of mailbox id, if it is still the one
// kept.
func (u *userState) letGo(id uint64, list mailstore.WeakList) {
	u.listMu.Lock()
	defer u.listMu.Unlock()
	if l, ok := u.lists[id]; ok && l.list.Same(list) {
		l.held = mailstore.MessageList{}
		u.lists[id] = l
	}
}

// unhold lets go of the list, for its views alone to keep.
func (l *sharedList) unhold() {
	if l.expire != nil {
		l.expire.Stop()
	}
	l.held, l.expire = mailstore.MessageList{}, nil
}

// dropLists lets go of every list kept, when the index closes.
func (u *userState) dropLists() {
	u.listMu.Lock()
	defer u.listMu.Unlock()
	for id, l := range u.lists {
		l.unhold()
		delete(u.lists, id)
	}
}

// keepList offers msgs, just read for mailbox id in the state meta
// describes, to the next views of that state.
func (u *userState) keepList(id uint64, meta mboxMeta, msgs mailstore.MessageList) {
	if msgs.Len() == 0 {
		return
	}
	u.listMu.Lock()
	defer u.listMu.Unlock()
	if u.lists == nil {
		u.lists = make(map[uint64]sharedList)
	}
	if old, ok := u.lists[id]; ok {
		old.unhold()
	}
	l := sharedList{uidValidity: meta.uidValidity, uidNext: meta.uidNext, highestModSeq: meta.highestModSeq,
		list: msgs.Weak()}
	u.lists[id] = l
	u.holdLocked(id, &l, msgs)
}
