package maildir

import (
	"encoding/binary"
	"errors"

	"github.com/dormouse/dormouse/mailstore"
)

// errCorrupt says an index record could not be decoded.
var errCorrupt = errors.New("corrupt index record")

// msgRec is the index record of one message.
type msgRec struct {
	uid      uint32
	modSeq   uint64
	internal int64 // unix nanoseconds
	save     int64 // unix nanoseconds
	size     int64 // RFC822.SIZE (CRLF)
	flags    flagSet
	file     string // name in cur/
	// emailID is the message's RFC 8474 EMAILID (objectid.go), given when
	// the message enters the index and carried along by COPY and MOVE; 0
	// in a record written before EMAILIDs were kept.
	emailID uint64
}

const recVersion = 1

func (r *msgRec) encode() []byte { return r.appendTo(make([]byte, 0, r.encodedSize())) }

// encodedSize is about the size of the encoded record (more with keywords).
func (r *msgRec) encodedSize() int { return 48 + len(r.file) }

// appendTo appends the encoded record to b.
func (r *msgRec) appendTo(b []byte) []byte {
	b = append(b, recVersion)
	b = binary.AppendUvarint(b, r.modSeq)
	b = binary.AppendVarint(b, r.internal)
	b = binary.AppendVarint(b, r.save)
	b = binary.AppendVarint(b, r.size)
	b = append(b, r.flags.sys)
	b = binary.AppendUvarint(b, uint64(len(r.flags.keywords)))
	for _, k := range r.flags.keywords {
		b = appendString(b, k)
	}
	b = appendString(b, r.file)
	// The EMAILID comes last, where a record of an older version ends, so
	// that records of either version decode with both.
	return binary.AppendUvarint(b, r.emailID)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the fields encode wrote; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.err = errCorrupt
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// skipStr passes over a string without copying it.
func (d *decoder) skipStr() {
	n := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.err = errCorrupt
		return
	}
	d.b = d.b[n:]
}

// decodeRec decodes a record; withFile false skips the file name, which
// views do not need.
func decodeRec(uid uint32, v []byte, withFile bool) (msgRec, error) {
	d := decoder{b: v}
	if d.byte1() != recVersion {
		return msgRec{}, errCorrupt
	}
	r := msgRec{uid: uid}
	r.modSeq = d.uvarint()
	r.internal = d.varint()
	r.save = d.varint()
	r.size = d.varint()
	r.flags.sys = d.byte1()
	n := d.uvarint()
	if n > 1<<16 {
		return msgRec{}, errCorrupt
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		r.flags.keywords = append(r.flags.keywords, d.str())
	}
	if withFile {
		r.file = d.str()
	} else {
		d.skipStr()
	}
	if d.err == nil && len(d.b) > 0 {
		r.emailID = d.uvarint()
	}
	return r, d.err
}

// message converts the record to the API type, with flags as its Flags
// (r.flags.list(), or a list shared through a flagCache).
func (r *msgRec) message(flags []string) mailstore.Message {
	return mailstore.Message{
		UID:          r.uid,
		ModSeq:       r.modSeq,
		Flags:        flags,
		InternalDate: mailstore.Timestamp(r.internal),
		SaveDate:     mailstore.Timestamp(r.save),
		Size:         r.size,
	}
}

// mboxMeta is the per-mailbox state kept under the "meta" key.
type mboxMeta struct {
	name          string
	uidValidity   uint32
	uidNext       uint32
	highestModSeq uint64
	firstRecent   uint32
	specialUse    string
	noSelect      bool
	// expungeFloor is the highest MODSEQ whose expunges were trimmed from
	// the log; ChangesSince below it cannot answer.
	expungeFloor uint64
	expungeCount uint64
	// Counters kept up to date by every change, so Status costs O(1).
	messages, unseen, deleted uint32
	size                      int64
	// Directory mtimes (ns) of new/ and cur/ as seen before the last full
	// rescan: when both still match, nothing changed on disk.
	newMtime, curMtime int64
	keywords           []string // keywords in use, sorted
	// unloggedModSeq: messages with a MODSEQ up to it may have no entry
	// in the MODSEQ bucket (modseqlog.go); 0 in an index written before.
	unloggedModSeq uint64
}

func (m *mboxMeta) encode() []byte {
	b := []byte{recVersion}
	b = appendString(b, m.name)
	b = binary.AppendUvarint(b, uint64(m.uidValidity))
	b = binary.AppendUvarint(b, uint64(m.uidNext))
	b = binary.AppendUvarint(b, m.highestModSeq)
	b = binary.AppendUvarint(b, uint64(m.firstRecent))
	b = appendString(b, m.specialUse)
	ns := byte(0)
	if m.noSelect {
		ns = 1
	}
	b = append(b, ns)
	b = binary.AppendUvarint(b, m.expungeFloor)
	b = binary.AppendUvarint(b, m.expungeCount)
	b = binary.AppendUvarint(b, uint64(m.messages))
	b = binary.AppendUvarint(b, uint64(m.unseen))
	b = binary.AppendUvarint(b, uint64(m.deleted))
	b = binary.AppendVarint(b, m.size)
	b = binary.AppendVarint(b, m.newMtime)
	b = binary.AppendVarint(b, m.curMtime)
	b = binary.AppendUvarint(b, uint64(len(m.keywords)))
	for _, k := range m.keywords {
		b = appendString(b, k)
	}
	// Last, where the meta of an older index ends: either decodes.
	return binary.AppendUvarint(b, m.unloggedModSeq)
}

func decodeMeta(v []byte) (mboxMeta, error) {
	d := decoder{b: v}
	if d.byte1() != recVersion {
		return mboxMeta{}, errCorrupt
	}
	var m mboxMeta
	m.name = d.str()
	m.uidValidity = uint32(d.uvarint())
	m.uidNext = uint32(d.uvarint())
	m.highestModSeq = d.uvarint()
	m.firstRecent = uint32(d.uvarint())
	m.specialUse = d.str()
	m.noSelect = d.byte1() == 1
	m.expungeFloor = d.uvarint()
	m.expungeCount = d.uvarint()
	m.messages = uint32(d.uvarint())
	m.unseen = uint32(d.uvarint())
	m.deleted = uint32(d.uvarint())
	m.size = d.varint()
	m.newMtime = d.varint()
	m.curMtime = d.varint()
	n := d.uvarint()
	if n > 1<<16 {
		return mboxMeta{}, errCorrupt
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		m.keywords = append(m.keywords, d.str())
	}
	if d.err == nil && len(d.b) > 0 {
		m.unloggedModSeq = d.uvarint()
	}
	return m, d.err
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// seqKey is the key of the MODSEQ and expunge-log buckets: MODSEQ then UID,
// both big-endian so that a cursor walks them in order.
func seqKey(modSeq uint64, uid uint32) []byte {
	return appendSeqKey(make([]byte, 0, 12), modSeq, uid)
}

// appendSeqKey appends seqKey(modSeq, uid) to b.
func appendSeqKey(b []byte, modSeq uint64, uid uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(b, modSeq), uid)
}
