package maildir

import (
	"unsafe"
	"weak"

	"github.com/dormouse/dormouse/mailstore"
)

// sharedList is the message list of a mailbox at one state, handed to
// every Snapshot of that state instead of a copy each: the devices of one
// user selecting the same INBOX at about the same time (after a restart,
// or a phone and a laptop) hold one list of 64 bytes per message until
// one of them changes it (imapview copies it first). The list is held weakly:
// it lives as long as a view uses it, and a user's index holding many
// mailboxes keeps none of their lists alive by itself.
type sharedList struct {
	uidValidity   uint32
	uidNext       uint32
	highestModSeq uint64
	first         weak.Pointer[mailstore.Message] // the list's first element
	n             int
	// blocks is the list's MODSEQ summary (mailstore.ModSeqBlocks): one
	// word per mailstore.ModSeqBlock messages, held while the list lives.
	blocks []uint64
}

// lookupList returns the list kept for mailbox id in the state meta
// describes and its MODSEQ summary, or nils. Every change to a mailbox's messages moves its
// HIGHESTMODSEQ (expunges included) or its UIDNEXT, so the three numbers
// name the list.
func (u *userState) lookupList(id uint64, meta mboxMeta) ([]mailstore.Message, []uint64) {
	u.listMu.Lock()
	defer u.listMu.Unlock()
	l, ok := u.lists[id]
	if !ok {
		return nil, nil
	}
	p := l.first.Value()
	if p == nil {
		delete(u.lists, id)
		return nil, nil
	}
	if l.uidValidity != meta.uidValidity || l.uidNext != meta.uidNext || l.highestModSeq != meta.highestModSeq {
		return nil, nil
	}
	// The list was clipped when kept (cap == len), so no view's
	// append writes into it.
	return unsafe.Slice(p, l.n), l.blocks
}

// keepList offers msgs, just read for mailbox id in the state meta
// describes, and its MODSEQ summary, to the next views of that state.
func (u *userState) keepList(id uint64, meta mboxMeta, msgs []mailstore.Message, blocks []uint64) {
	if len(msgs) == 0 || len(msgs) != cap(msgs) {
		return
	}
	u.listMu.Lock()
	defer u.listMu.Unlock()
	if u.lists == nil {
		u.lists = make(map[uint64]sharedList)
	}
	u.lists[id] = sharedList{uidValidity: meta.uidValidity, uidNext: meta.uidNext, highestModSeq: meta.highestModSeq,
		first: weak.Make(&msgs[0]), n: len(msgs), blocks: blocks}
}
