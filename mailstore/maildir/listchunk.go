package maildir

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/dormouse/dormouse/mailstore"
)

// The message list in packed chunks. A view needs of each message its
// UID, MODSEQ, flags, size and dates, never its file name; the record in
// the msgs bucket has the name too, under a key of its own, in pages
// bbolt leaves half full: reading a million of them for a SELECT touched
// some 200 MiB of the mmapped index (Pss of the server) and took 130-190
// ms. The list bucket keeps the same fields of the messages of each run
// of 256 UIDs (listShift) in one value, packed: a SELECT reads a few
// thousand values, about 24 bytes a message.
//
// The chunks change with the records, in the same transaction (put,
// update and remove note the change; save writes the chunks changed), so
// a crash leaves both or neither. keyListStamp says which mailbox state
// the chunks show: an index written by a version that kept no chunks (or
// changed the mailbox without them) has none or an old stamp, and the
// first write transaction on the mailbox rebuilds them from the records
// (loadMbox); until then views read the records.

// listShift makes a chunk of the 256 consecutive UIDs uid>>listShift names.
const listShift = 8

// listVersion is the first byte of a chunk and of the stamp.
const listVersion = 1

// listEntry is what a chunk keeps of a message.
type listEntry struct {
	uid            uint32
	modSeq         uint64
	internal, save int64 // unix nanoseconds
	size           int64
	flags          flagSet
}

func entryOf(r *msgRec) listEntry {
	return listEntry{uid: r.uid, modSeq: r.modSeq, internal: r.internal, save: r.save, size: r.size,
		flags: flagSet{sys: r.flags.sys, keywords: slices.Clone(r.flags.keywords)}}
}

// chunkOf returns the key of the chunk that holds uid.
func chunkOf(uid uint32) uint32 { return uid >> listShift }

// encodeChunk packs entries (ascending UIDs, all of one chunk).
func encodeChunk(entries []listEntry) []byte {
	b := make([]byte, 0, 1+len(entries)*32)
	b = append(b, listVersion)
	for i := range entries {
		e := &entries[i]
		b = append(b, byte(e.uid&(1<<listShift-1)))
		b = binary.AppendUvarint(b, e.modSeq)
		b = append(b, e.flags.sys)
		b = binary.AppendUvarint(b, uint64(len(e.flags.keywords)))
		for _, k := range e.flags.keywords {
			b = appendString(b, k)
		}
		b = binary.AppendVarint(b, e.size)
		b = binary.AppendVarint(b, e.internal)
		b = binary.AppendVarint(b, e.save-e.internal)
	}
	return b
}

// minEntryBytes is the smallest an entry packs into: one byte for each of
// its seven fields.
const minEntryBytes = 7

// decodeChunk calls fn with each entry of chunk c's value v, in order.
// The keywords fn sees are fresh strings.
func decodeChunk(c uint32, v []byte, fn func(e *listEntry)) error {
	d := decoder{b: v}
	if d.byte1() != listVersion {
		return fmt.Errorf("list chunk %d: %w", c, errCorrupt)
	}
	var e listEntry
	for len(d.b) > 0 && d.err == nil {
		e.uid = c<<listShift | uint32(d.byte1())
		e.modSeq = d.uvarint()
		e.flags.sys = d.byte1()
		n := d.uvarint()
		if n > 1<<16 {
			return fmt.Errorf("list chunk %d: %w", c, errCorrupt)
		}
		e.flags.keywords = nil
		for i := uint64(0); i < n && d.err == nil; i++ {
			e.flags.keywords = append(e.flags.keywords, d.str())
		}
		e.size = d.varint()
		e.internal = d.varint()
		e.save = e.internal + d.varint()
		if d.err == nil {
			fn(&e)
		}
	}
	if d.err != nil {
		return fmt.Errorf("list chunk %d: %w", c, d.err)
	}
	return nil
}

// listStamp encodes the mailbox state the chunks show.
func listStamp(meta *mboxMeta) []byte {
	b := []byte{listVersion}
	b = binary.AppendUvarint(b, uint64(meta.uidValidity))
	b = binary.AppendUvarint(b, uint64(meta.uidNext))
	b = binary.AppendUvarint(b, meta.highestModSeq)
	return binary.AppendUvarint(b, uint64(meta.messages))
}

// listCurrent reports whether the mailbox has chunks that show the state
// m.meta describes.
func (m *mboxTx) listCurrent() bool {
	return m.list != nil && string(m.b.Get(keyListStamp)) == string(listStamp(&m.meta))
}

// rebuildList writes the chunks again from the records, in a write
// transaction: for an index that kept none, or whose chunks another
// version of the server left behind.
func (m *mboxTx) rebuildList() error {
	if m.b.Bucket(bktList) != nil {
		if err := m.b.DeleteBucket(bktList); err != nil {
			return fmt.Errorf("rebuild message list: %w", err)
		}
	}
	l, err := m.b.CreateBucket(bktList)
	if err != nil {
		return fmt.Errorf("rebuild message list: %w", err)
	}
	l.FillPercent = 1 // keys only ever ascend here
	var entries []listEntry
	chunk := uint32(0)
	flush := func() error {
		if len(entries) == 0 {
			return nil
		}
		err := l.Put(u32(chunk), encodeChunk(entries))
		entries = entries[:0]
		return err
	}
	c := m.msgs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r, err := decodeRec(beUint32(k), v, false)
		if err != nil {
			return fmt.Errorf("rebuild message list: message %d: %w", beUint32(k), err)
		}
		if chunkOf(r.uid) != chunk {
			if err := flush(); err != nil {
				return fmt.Errorf("rebuild message list: %w", err)
			}
			chunk = chunkOf(r.uid)
		}
		entries = append(entries, entryOf(&r))
	}
	if err := flush(); err != nil {
		return fmt.Errorf("rebuild message list: %w", err)
	}
	m.list, m.chunks = l, nil
	return m.b.Put(keyListStamp, listStamp(&m.meta))
}

// chunk returns the entries of chunk c for a change, read once per
// transaction and written back by saveList.
func (m *mboxTx) chunk(c uint32) *[]listEntry {
	if p, ok := m.chunks[c]; ok {
		return p
	}
	var entries []listEntry
	if v := m.list.Get(u32(c)); v == nil && m.meta.uidNext-1 <= c<<listShift {
		// A chunk begun by the newest UID: the new messages after it
		// fill it (a first open fills hundreds of them).
		entries = make([]listEntry, 0, 1<<listShift)
	} else if v != nil {
		// Room for every entry the value can hold (a STORE changes one
		// and writes them all back): one allocation, not nine as append
		// doubles its way up to a full chunk's 256.
		entries = make([]listEntry, 0, min(1<<listShift, len(v)/minEntryBytes))
		if err := decodeChunk(c, v, func(e *listEntry) { entries = append(entries, *e) }); err != nil {
			// A damaged chunk (the stamp cannot tell) is made again
			// from the records, which this transaction writes back.
			entries = m.chunkFromRecords(c)
		}
	}
	if m.chunks == nil {
		m.chunks = make(map[uint32]*[]listEntry)
	}
	p := &entries
	m.chunks[c] = p
	return p
}

// chunkFromRecords reads the entries of chunk c from the records.
func (m *mboxTx) chunkFromRecords(c uint32) []listEntry {
	var entries []listEntry
	cur := m.msgs.Cursor()
	for k, v := cur.Seek(u32(c << listShift)); k != nil && chunkOf(beUint32(k)) == c; k, v = cur.Next() {
		if r, err := decodeRec(beUint32(k), v, false); err == nil {
			entries = append(entries, entryOf(&r))
		}
	}
	return entries
}

// listPut notes r, a record just written, in its chunk.
func (m *mboxTx) listPut(r *msgRec) {
	if m.list == nil {
		return
	}
	p := m.chunk(chunkOf(r.uid))
	e := entryOf(r)
	i, found := slices.BinarySearchFunc(*p, r.uid, byUID)
	if found {
		(*p)[i] = e
	} else {
		*p = slices.Insert(*p, i, e)
	}
}

func byUID(e listEntry, uid uint32) int { return cmp.Compare(e.uid, uid) }

// listDelete notes that the record of uid is gone.
func (m *mboxTx) listDelete(uid uint32) {
	if m.list == nil {
		return
	}
	p := m.chunk(chunkOf(uid))
	if i, found := slices.BinarySearchFunc(*p, uid, byUID); found {
		*p = slices.Delete(*p, i, i+1)
	}
}

// saveList writes the chunks this transaction changed and the stamp of
// the state m.meta describes; from save, with the meta.
func (m *mboxTx) saveList() error {
	if m.list == nil {
		return nil
	}
	for c, p := range m.chunks {
		var err error
		if len(*p) == 0 {
			err = m.list.Delete(u32(c))
		} else {
			err = m.list.Put(u32(c), encodeChunk(*p))
		}
		if err != nil {
			return fmt.Errorf("write message list chunk %d: %w", c, err)
		}
	}
	m.chunks = nil
	return m.b.Put(keyListStamp, listStamp(&m.meta))
}

// listFromChunks reads the message list from the chunks; ok is false
// when the chunks do not show the state m.meta describes (an index from
// before them, or damage), and the caller reads the records.
func (m *mboxTx) listFromChunks() (msgs mailstore.MessageList, ok bool) {
	if !m.listCurrent() {
		return mailstore.MessageList{}, false
	}
	var b mailstore.ListBuilder
	b.Grow(int(m.meta.messages))
	fc := &flagCache{}
	add := func(e *listEntry) {
		b.Add(mailstore.Message{
			UID:          e.uid,
			ModSeq:       e.modSeq,
			Flags:        fc.get(e.flags),
			InternalDate: mailstore.Timestamp(e.internal),
			SaveDate:     mailstore.Timestamp(e.save),
			Size:         e.size,
		})
	}
	c := m.list.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 4 {
			return mailstore.MessageList{}, false // not a chunk: read the records
		}
		if err := decodeChunk(beUint32(k), v, add); err != nil {
			return mailstore.MessageList{}, false // damaged: read the records
		}
	}
	msgs = b.List()
	if msgs.Len() != int(m.meta.messages) {
		return mailstore.MessageList{}, false // not what the stamp says: read the records
	}
	return msgs, true
}
