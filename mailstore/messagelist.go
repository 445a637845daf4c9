package mailstore

import (
	"iter"
	"slices"
	"sort"
	"strings"
	"unsafe"
	"weak"
)

// MessageList is the list of a mailbox's messages, ascending by UID, as
// the views of its sessions hold it: a million-message mailbox is a
// million entries, so the list is built for memory.
//
//   - An entry is 40 bytes without pointers (listEntry): the flags are an
//     index into the list's table of flag sets (a mailbox has a handful
//     of distinct sets), so the garbage collector never scans the
//     entries, and a Message is made from an entry when asked (At).
//   - The entries are kept in blocks of ModSeqBlock, each with the
//     highest MODSEQ of its messages (the MODSEQ summary CHANGEDSINCE
//     and QRESYNC skip blocks by, ChangedSince).
//   - Copies share: the store hands one list to every view of a mailbox
//     state, and a view that changes a message (its STORE, a change it
//     learns) copies the block it writes, the table of blocks (8 bytes a
//     block) and the flag table, never the whole list. A block is
//     written in place only by the list that made it.
//
// The zero MessageList is empty. Assigning a MessageList shares it: the
// copy may be read, and written only through Share's result (a list
// whose writes the original cannot see). Not safe for concurrent use
// while written; a list that is only read is.
type MessageList struct {
	blocks []*listBlock
	// starts[i] is the index of the first message of blocks[i]; nil while
	// every block but the last is full (index / ModSeqBlock is the block).
	starts []int
	n      int
	flags  [][]string // the flag sets entries index; shared until owned
	// owner marks the blocks this list made (and so writes in place);
	// nil while the list shares its table of blocks and flag sets.
	owner *listOwner
	// flagIDs finds a flag set in flags by its content, built by the
	// owner when it first adds a set.
	flagIDs map[string]uint32
}

// ModSeqBlock is how many consecutive messages a block of a MessageList
// holds (fewer after expunges) and one entry of its MODSEQ summary
// covers.
const ModSeqBlock = 64

// listOwner is the identity of a list that writes: blocks it made carry
// it. (Not zero-sized, so that two owners never share an address.)
type listOwner struct{ _ byte }

// listBlock is a run of up to ModSeqBlock consecutive messages.
type listBlock struct {
	owner *listOwner // the list that may write it in place
	top   uint64     // the highest MODSEQ of e, or more (never less)
	e     []listEntry
}

// listEntry is a message of a MessageList: Message without the flags'
// slice, 40 bytes instead of 64, and no pointer.
type listEntry struct {
	uid           uint32
	flags         uint32 // index into MessageList.flags
	modSeq        uint64
	size          int64
	internal, sav Timestamp
}

// MessageListEntryBytes is the size of one message's entry in a
// MessageList (the blocks and flag sets add well under a byte a message).
const MessageListEntryBytes = int(unsafe.Sizeof(listEntry{}))

// ListOf returns the list of msgs (ascending by UID).
func ListOf(msgs []Message) MessageList {
	var b ListBuilder
	b.Grow(len(msgs))
	for i := range msgs {
		b.Add(msgs[i])
	}
	return b.List()
}

// ListBuilder builds a MessageList message by message, as a store reads
// its index. The zero ListBuilder is ready to use.
type ListBuilder struct {
	l     MessageList
	spare []listEntry // room for the entries Grow expects
	// seen finds the flag-table entry of a Flags slice added before by
	// its address: a few recent ones first, then a map.
	recent [8]flagSlice
	next   int
	byData map[flagSlice]uint32
	none   uint32 // the entry of no flags, plus one; 0 before the first
}

// flagSlice names a Flags slice a store shares among messages.
type flagSlice struct {
	p  *string
	n  int
	id uint32
}

// Grow makes room for n more messages in one allocation.
func (b *ListBuilder) Grow(n int) {
	blocks := (n + ModSeqBlock - 1) / ModSeqBlock
	if cap(b.spare)-len(b.spare) < blocks*ModSeqBlock {
		// The blocks added so far keep the old room: a fresh one.
		b.spare = make([]listEntry, 0, blocks*ModSeqBlock)
	}
	b.l.blocks = slices.Grow(b.l.blocks, blocks)
}

// Add appends m, whose UID is above those added before. Messages with
// the same Flags slice (a store shares one per distinct set) share one
// entry of the flag table.
func (b *ListBuilder) Add(m Message) {
	id := b.flagID(m.Flags)
	l := &b.l
	if k := len(l.blocks); k == 0 || len(l.blocks[k-1].e) == ModSeqBlock {
		if cap(b.spare)-len(b.spare) < ModSeqBlock {
			b.spare = make([]listEntry, 0, ModSeqBlock)
		}
		e := b.spare[len(b.spare) : len(b.spare) : len(b.spare)+ModSeqBlock]
		b.spare = b.spare[:len(b.spare)+ModSeqBlock]
		l.blocks = append(l.blocks, &listBlock{e: e})
	}
	blk := l.blocks[len(l.blocks)-1]
	blk.e = append(blk.e, entryOf(m, id))
	blk.top = max(blk.top, m.ModSeq)
	l.n++
}

// flagID returns the flag-table entry of flags.
func (b *ListBuilder) flagID(flags []string) uint32 {
	if len(flags) == 0 {
		if b.none == 0 {
			b.none = b.l.flagID(flags) + 1
		}
		return b.none - 1
	}
	key := flagSlice{p: unsafe.SliceData(flags), n: len(flags)}
	for _, r := range b.recent {
		if r.p == key.p && r.n == key.n {
			return r.id
		}
	}
	id, ok := b.byData[key]
	if !ok {
		id = b.l.flagID(flags)
		if b.byData == nil {
			b.byData = make(map[flagSlice]uint32)
		}
		b.byData[key] = id
	}
	key.id = id
	b.recent[b.next] = key
	b.next = (b.next + 1) % len(b.recent)
	return id
}

// List returns the list built; the builder starts over.
func (b *ListBuilder) List() MessageList {
	l := b.l
	*b = ListBuilder{}
	l.flagIDs = nil
	l.owner = nil // shared from now on: a writer copies what it writes
	l.blocks = slices.Clip(l.blocks)
	l.flags = slices.Clip(l.flags)
	return l
}

func entryOf(m Message, flags uint32) listEntry {
	return listEntry{uid: m.UID, flags: flags, modSeq: m.ModSeq, size: m.Size, internal: m.InternalDate, sav: m.SaveDate}
}

// Len returns the number of messages.
func (l *MessageList) Len() int { return l.n }

// locate returns the block of the message at index i and i's place in it.
func (l *MessageList) locate(i int) (int, int) {
	if l.starts == nil {
		return i / ModSeqBlock, i % ModSeqBlock
	}
	b := sort.Search(len(l.starts), func(b int) bool { return l.starts[b] > i }) - 1
	return b, i - l.starts[b]
}

func (l *MessageList) entry(i int) *listEntry {
	b, j := l.locate(i)
	return &l.blocks[b].e[j]
}

// At returns the message at index i (sequence number i+1). Its Flags are
// shared with the list: read-only.
func (l *MessageList) At(i int) Message { return l.message(l.entry(i)) }

func (l *MessageList) message(e *listEntry) Message {
	return Message{UID: e.uid, ModSeq: e.modSeq, Flags: l.flags[e.flags], Size: e.size, InternalDate: e.internal, SaveDate: e.sav}
}

// UID returns the UID of the message at index i.
func (l *MessageList) UID(i int) uint32 { return l.entry(i).uid }

// ModSeq returns the MODSEQ of the message at index i.
func (l *MessageList) ModSeq(i int) uint64 { return l.entry(i).modSeq }

// Flags returns the flags of the message at index i (read-only).
func (l *MessageList) Flags(i int) []string { return l.flags[l.entry(i).flags] }

// All yields the index and the message of each message, in order.
func (l *MessageList) All() iter.Seq2[int, Message] {
	return func(yield func(int, Message) bool) {
		i := 0
		for _, b := range l.blocks {
			for k := range b.e {
				if !yield(i, l.message(&b.e[k])) {
					return
				}
				i++
			}
		}
	}
}

// UIDs yields the UID of each message, in order.
func (l *MessageList) UIDs() iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		for _, b := range l.blocks {
			for k := range b.e {
				if !yield(b.e[k].uid) {
					return
				}
			}
		}
	}
}

// Messages returns the list as records (for a few messages, tests and
// the like: 64 bytes a message).
func (l *MessageList) Messages() []Message {
	out := make([]Message, 0, l.n)
	for _, m := range l.All() {
		out = append(out, m)
	}
	return out
}

// Find returns the index of uid, or where it would be, and whether the
// list holds it.
func (l *MessageList) Find(uid uint32) (int, bool) {
	b := sort.Search(len(l.blocks), func(b int) bool {
		e := l.blocks[b].e
		return e[len(e)-1].uid >= uid
	})
	if b == len(l.blocks) {
		return l.n, false
	}
	e := l.blocks[b].e
	j := sort.Search(len(e), func(j int) bool { return e[j].uid >= uid })
	return l.start(b) + j, e[j].uid == uid
}

// start returns the index of the first message of block b.
func (l *MessageList) start(b int) int {
	if l.starts == nil {
		return b * ModSeqBlock
	}
	return l.starts[b]
}

// ChangedSince yields, ascending, the indexes of the messages whose
// MODSEQ is above modseq. It looks only into the blocks whose highest
// MODSEQ is above it: a resync of a million-message mailbox where a
// hundred messages changed reads a few thousand words and a hundred
// blocks, not every message.
func (l *MessageList) ChangedSince(modseq uint64) iter.Seq[int] {
	return func(yield func(int) bool) {
		for b, blk := range l.blocks {
			if blk.top <= modseq {
				continue
			}
			start := l.start(b)
			for k := range blk.e {
				if blk.e[k].modSeq > modseq && !yield(start+k) {
					return
				}
			}
		}
	}
}

// Share returns a list that shares l's messages, for another reader or
// writer: from then on each copies what it writes (l too: blocks it made
// are shared now).
func (l *MessageList) Share() MessageList {
	l.owner, l.flagIDs = nil, nil
	return *l
}

// own makes the table of blocks and the flag table l's own.
func (l *MessageList) own() {
	if l.owner != nil {
		return
	}
	l.owner = &listOwner{}
	l.blocks = slices.Clone(l.blocks)
	l.starts = slices.Clone(l.starts)
	l.flags = slices.Clone(l.flags)
}

// writable returns block b, copied first unless l made it.
func (l *MessageList) writable(b int) *listBlock {
	l.own()
	blk := l.blocks[b]
	if blk.owner != l.owner {
		blk = &listBlock{owner: l.owner, top: blk.top, e: slices.Clone(blk.e)}
		l.blocks[b] = blk
	}
	return blk
}

// flagID returns the index of flags in l's flag table, adding it. (The
// table grows with each distinct set a view learns; sets no message has
// any more stay until the view is made anew.)
func (l *MessageList) flagID(flags []string) uint32 {
	if l.flagIDs == nil {
		l.flagIDs = make(map[string]uint32, len(l.flags))
		for i, f := range l.flags {
			l.flagIDs[strings.Join(f, " ")] = uint32(i)
		}
	}
	key := strings.Join(flags, " ")
	if id, ok := l.flagIDs[key]; ok {
		return id
	}
	id := uint32(len(l.flags))
	l.flags = append(l.flags, slices.Clip(flags))
	l.flagIDs[key] = id
	return id
}

// Set puts m at index i, copying the block it is in unless l made it.
func (l *MessageList) Set(i int, m Message) {
	b, j := l.locate(i)
	blk := l.writable(b)
	blk.e[j] = entryOf(m, l.flagID(m.Flags))
	blk.top = max(blk.top, m.ModSeq)
}

// Append adds msgs, whose UIDs are above l's, at the end.
func (l *MessageList) Append(msgs []Message) {
	for _, m := range msgs {
		k := len(l.blocks)
		if k == 0 || len(l.blocks[k-1].e) == ModSeqBlock {
			l.own()
			if l.starts != nil {
				l.starts = append(l.starts, l.n)
			}
			l.blocks = append(l.blocks, &listBlock{owner: l.owner, e: make([]listEntry, 0, ModSeqBlock)})
			k++
		}
		blk := l.writable(k - 1)
		blk.e = append(blk.e, entryOf(m, l.flagID(m.Flags)))
		blk.top = max(blk.top, m.ModSeq)
		l.n++
	}
}

// Remove takes out the messages of gone (ascending UIDs). Only the
// blocks that lose messages are copied (or shrunk in place when l made
// them); a block left empty goes.
func (l *MessageList) Remove(gone []uint32) {
	if len(gone) == 0 || l.n == 0 {
		return
	}
	l.own()
	kept := l.blocks[:0]
	g := 0
	for _, blk := range l.blocks {
		last := blk.e[len(blk.e)-1].uid
		for g < len(gone) && gone[g] < blk.e[0].uid {
			g++
		}
		if g == len(gone) || gone[g] > last {
			kept = append(kept, blk)
			continue
		}
		mine := blk.owner == l.owner
		e := make([]listEntry, 0, len(blk.e))
		if mine {
			e = blk.e[:0] // filtered in place
		}
		var top uint64
		for _, x := range blk.e {
			for g < len(gone) && gone[g] < x.uid {
				g++
			}
			if g < len(gone) && gone[g] == x.uid {
				l.n--
				continue
			}
			e = append(e, x)
			top = max(top, x.modSeq)
		}
		if len(e) == 0 {
			continue
		}
		if mine {
			blk.top, blk.e = top, e
		} else {
			blk = &listBlock{owner: l.owner, top: top, e: e}
		}
		kept = append(kept, blk)
	}
	clear(l.blocks[len(kept):])
	l.blocks = kept
	l.reindex()
}

// reindex sets starts after blocks changed length.
func (l *MessageList) reindex() {
	regular := true
	for i, b := range l.blocks {
		if i < len(l.blocks)-1 && len(b.e) != ModSeqBlock {
			regular = false
			break
		}
	}
	if regular {
		l.starts = nil
		return
	}
	l.starts = l.starts[:0]
	n := 0
	for _, b := range l.blocks {
		l.starts = append(l.starts, n)
		n += len(b.e)
	}
}

// WeakList refers to a list without keeping it alive: a store that hands
// one list to the views of a mailbox state finds it again while some
// view still reads it unchanged (a view that writes has a table of
// blocks of its own).
type WeakList struct {
	first  weak.Pointer[*listBlock] // the table of blocks
	blocks int
	n      int
	starts []int
	flags  [][]string
}

// Weak returns a weak reference to l; the zero WeakList for an empty l.
func (l *MessageList) Weak() WeakList {
	if len(l.blocks) == 0 {
		return WeakList{}
	}
	return WeakList{first: weak.Make(&l.blocks[0]), blocks: len(l.blocks), n: l.n, starts: l.starts, flags: l.flags}
}

// List returns the list w refers to, shared, if it is still alive.
func (w WeakList) List() (MessageList, bool) {
	p := w.first.Value()
	if p == nil {
		return MessageList{}, false
	}
	return MessageList{blocks: unsafe.Slice(p, w.blocks), starts: w.starts, n: w.n, flags: w.flags}, true
}

// Same reports whether w and x refer to the same list.
func (w WeakList) Same(x WeakList) bool { return w.first == x.first }
