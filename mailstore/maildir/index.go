package maildir

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Top-level buckets of a user's index.
var (
	bktMeta  = []byte("meta")  // user-level values
	bktNames = []byte("names") // mailbox name -> mailbox id (8 bytes)
	bktBoxes = []byte("boxes") // mailbox id -> mailbox bucket
	bktSubs  = []byte("subs")  // subscribed name -> empty
)

// Keys and sub-buckets of one mailbox bucket.
var (
	keyBoxMeta = []byte("meta")  // mboxMeta
	bktMsgs    = []byte("msgs")  // UID -> msgRec
	bktFiles   = []byte("files") // Maildir base name -> UID
	bktModSeq  = []byte("ms")    // seqKey(MODSEQ, UID) -> empty: what changed after m
	bktExpLog  = []byte("xp")    // seqKey(MODSEQ, UID) -> the record as expunged (empty in older indexes): the expunge log
	// bktEnvelopes is made on first use: UID -> envelope header (envcache.go).
	bktEnvelopes = []byte("env")
	// bktSortRecs is made on first use: UID -> the caller's sort record
	// (sortcache.go).
	bktSortRecs = []byte("sk")
	// bktPreviews is made on first use: UID -> the caller's preview
	// record (preview.go).
	bktPreviews = []byte("pv")
	// bktList: UID>>listShift -> the packed list entries of that run of
	// UIDs (listchunk.go); keyListStamp: the mailbox state they show.
	bktList      = []byte("ls")
	keyListStamp = []byte("lsstamp")
)

var keyUIDValidity = []byte("uidvalidity")

// initBuckets creates the top-level buckets of a new index.
func initBuckets(tx *bolt.Tx) error {
	for _, b := range [][]byte{bktMeta, bktNames, bktBoxes, bktSubs} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	return nil
}

// uidValidityFile keeps the last UIDVALIDITY handed out beside the index,
// so that an index rebuilt after loss still never repeats one.
const uidValidityFile = "uidvalidity"

// nextUIDValidity hands out a UIDVALIDITY that is the current time when it
// can be and always greater than any handed out for this user before (kept
// in the index and in uidValidityFile), so a mailbox deleted and created
// again within a second, or rebuilt after the index was lost, still gets a
// new one (RFC 9051 2.3.1.1).
func (u *userState) nextUIDValidity(tx *bolt.Tx) (uint32, error) {
	last := u.lastUIDValidity(tx)
	v := uint32(time.Now().Unix())
	if v <= last {
		v = last + 1
	}
	return v, u.recordUIDValidity(tx, v)
}

// lastUIDValidity returns the last UIDVALIDITY handed out for the user,
// from the index and uidValidityFile.
func (u *userState) lastUIDValidity(tx *bolt.Tx) uint32 {
	last := uint32(0)
	if old := tx.Bucket(bktMeta).Get(keyUIDValidity); len(old) == 4 {
		last = binary.BigEndian.Uint32(old)
	}
	if b, err := os.ReadFile(filepath.Join(u.dir, uidValidityFile)); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil && uint32(v) > last {
			last = uint32(v)
		}
	}
	return last
}

// recordUIDValidity notes v as the last UIDVALIDITY handed out, in
// uidValidityFile and the index.
func (u *userState) recordUIDValidity(tx *bolt.Tx, v uint32) error {
	path := filepath.Join(u.dir, uidValidityFile)
	if err := writeFileAtomic(path, []byte(strconv.FormatUint(uint64(v), 10)+"\n"), !u.s.opts.NoSync); err != nil {
		return fmt.Errorf("record uidvalidity: %w", err)
	}
	return tx.Bucket(bktMeta).Put(keyUIDValidity, u32(v))
}

// writeFileAtomic replaces path by data through a temporary file.
func writeFileAtomic(path string, data []byte, durable bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return mapFSError(err)
	}
	return nil
}

// mboxTx is one mailbox inside a transaction.
type mboxTx struct {
	u                      *userState
	tx                     *bolt.Tx
	id                     uint64
	meta                   mboxMeta
	b                      *bolt.Bucket
	msgs, files, ms, xplog *bolt.Bucket
	envelopes              *bolt.Bucket // nil until the first envelope is kept
	sortRecs               *bolt.Bucket // nil until the first sort record is kept
	// list holds the message list in chunks (listchunk.go); chunks the
	// chunks this transaction changed, decoded, until save writes them.
	list   *bolt.Bucket
	chunks map[uint32]*[]listEntry
	// envelopeReads counts the files read by keepExpungedEnvelope.
	envelopeReads int
	dir           string // the mailbox's Maildir folder
	// keywordsGrew is set when this transaction added a keyword to the
	// mailbox's set.
	keywordsGrew bool
	// fresh is set when this transaction created the mailbox's state;
	// fromDovecot when that state came from Dovecot's files (dovecot.go).
	fresh, fromDovecot bool
	// dovecotUIDList is the version of the dovecot-uidlist this mailbox
	// keeps current (-1 none, 0 not looked up yet); dovecotLines holds
	// the lines this transaction adds to it once it commits (dovecot.go).
	dovecotUIDList  int8
	dovecotLines    []byte
	dovecotKeywords *dovecotKeywords // read on first use
	// expungeLimit trims the expunge log beyond this many entries (0: never).
	expungeLimit uint64
	// bytes holds the keys and values put holds out to bbolt.
	bytes txBytes
	// scratch holds a key to look up.
	scratch []byte
	// unlogged makes put write no MODSEQ entry (modseqlog.go).
	unlogged bool
	// filesTop, while filesTopKnown, is the greatest base name in the
	// files bucket: ingestFile need not look up a greater one.
	filesTop      string
	filesTopKnown bool
}

// mailboxID looks a canonical name up; ok is false when the index has no
// state for it.
func mailboxID(tx *bolt.Tx, name string) (uint64, bool) {
	v := tx.Bucket(bktNames).Get([]byte(name))
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// loadMbox opens mailbox id in tx.
func (u *userState) loadMbox(tx *bolt.Tx, id uint64) (*mboxTx, error) {
	b := tx.Bucket(bktBoxes).Bucket(u64(id))
	if b == nil {
		return nil, fmt.Errorf("mailbox id %d: %w", id, errNoState)
	}
	meta, err := decodeMeta(b.Get(keyBoxMeta))
	if err != nil {
		return nil, fmt.Errorf("mailbox id %d meta: %w", id, err)
	}
	m := &mboxTx{
		u: u, tx: tx, id: id, meta: meta, b: b,
		msgs: b.Bucket(bktMsgs), files: b.Bucket(bktFiles),
		ms: b.Bucket(bktModSeq), xplog: b.Bucket(bktExpLog),
		envelopes:    b.Bucket(bktEnvelopes),
		sortRecs:     b.Bucket(bktSortRecs),
		list:         b.Bucket(bktList),
		dir:          filepath.Join(u.maildir, dirName(meta.name)),
		expungeLimit: u.s.opts.ExpungeLogLimit,
	}
	if m.msgs == nil || m.files == nil || m.ms == nil || m.xplog == nil {
		return nil, fmt.Errorf("mailbox %q: %w", meta.name, errCorrupt)
	}
	if tx.Writable() && !m.listCurrent() {
		// An index from before the chunks, or changed by a version
		// that kept none: this change keeps them from here on.
		if err := m.rebuildList(); err != nil {
			return nil, fmt.Errorf("mailbox %q: %w", meta.name, err)
		}
	}
	if tx.Writable() {
		u.skipSpent(m)
	}
	return m, nil
}

// createMbox makes index state for a mailbox whose folder exists.
func (u *userState) createMbox(tx *bolt.Tx, name, specialUse string) (*mboxTx, error) {
	boxes := tx.Bucket(bktBoxes)
	id, err := boxes.NextSequence()
	if err != nil {
		return nil, err
	}
	uv, err := u.nextUIDValidity(tx)
	if err != nil {
		return nil, err
	}
	b, err := boxes.CreateBucket(u64(id))
	if err != nil {
		return nil, err
	}
	for _, k := range [][]byte{bktMsgs, bktFiles, bktModSeq, bktExpLog} {
		if _, err := b.CreateBucket(k); err != nil {
			return nil, err
		}
	}
	if specialUse == "" {
		specialUse = defaultSpecialUse(name)
	}
	meta := mboxMeta{name: name, uidValidity: uv, uidNext: 1, highestModSeq: 1, firstRecent: 1, specialUse: specialUse}
	if err := b.Put(keyBoxMeta, meta.encode()); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bktNames).Put([]byte(name), u64(id)); err != nil {
		return nil, err
	}
	m, err := u.loadMbox(tx, id)
	if err != nil {
		return nil, err
	}
	m.fresh = true
	// A folder Dovecot served keeps its UIDs (dovecot.go).
	if m.fromDovecot, err = m.takeOverDovecot(); err != nil {
		return nil, err
	}
	return m, nil
}

// dropMbox removes a mailbox's index state.
func dropMbox(tx *bolt.Tx, name string) error {
	id, ok := mailboxID(tx, name)
	if !ok {
		return nil
	}
	if err := tx.Bucket(bktNames).Delete([]byte(name)); err != nil {
		return err
	}
	if err := dropMetadata(tx, id); err != nil {
		return err
	}
	if err := dropAccessKey(tx, id); err != nil {
		return err
	}
	return tx.Bucket(bktBoxes).DeleteBucket(u64(id))
}

// save writes the mailbox meta back, with the state memory holds for it
// (foldUnwritten). A transaction that changed nothing in the mailbox (a
// STORE of flags its messages had) writes nothing, so that its commit
// may be skipped (commitFlags).
func (m *mboxTx) save() error {
	if m.tx.Writable() {
		m.foldUnwritten()
		// The list kept for the state before this change serves no
		// view to come: let go of it now, not at the linger's end.
		m.u.unholdStale(m.id, m.meta)
		enc := m.meta.encode()
		if len(m.chunks) == 0 && bytes.Equal(enc, m.b.Get(keyBoxMeta)) &&
			(m.list == nil || bytes.Equal(m.b.Get(keyListStamp), listStamp(&m.meta))) {
			return nil
		}
		if err := m.saveList(); err != nil {
			return err
		}
		return m.b.Put(keyBoxMeta, enc)
	}
	return m.b.Put(keyBoxMeta, m.meta.encode())
}

// nextModSeq allocates a MODSEQ for a change in this transaction.
func (m *mboxTx) nextModSeq() uint64 {
	m.meta.highestModSeq++
	return m.meta.highestModSeq
}

// get reads a message record.
func (m *mboxTx) get(uid uint32, withFile bool) (msgRec, bool, error) {
	v := m.msgs.Get(u32(uid))
	if v == nil {
		return msgRec{}, false, nil
	}
	r, err := decodeRec(uid, v, withFile)
	if err != nil {
		return msgRec{}, false, fmt.Errorf("message %d: %w", uid, err)
	}
	return r, true, nil
}

// noteKeywords adds kws to the mailbox's keyword set and rewrites them to
// the spelling already in use (keywords are case-insensitive).
func (m *mboxTx) noteKeywords(kws []string) {
	for i, k := range kws {
		found := false
		for _, o := range m.meta.keywords {
			if strings.EqualFold(o, k) {
				kws[i] = o
				found = true
				break
			}
		}
		if !found {
			m.meta.keywords = uniqueSorted(append(m.meta.keywords, k))
			m.keywordsGrew = true
		}
	}
}

func (m *mboxTx) count(r *msgRec, sign int) {
	d := uint32(sign)
	m.meta.messages += d
	if r.flags.sys&flagSeen == 0 {
		m.meta.unseen += d
	}
	if r.flags.sys&flagDeleted != 0 {
		m.meta.deleted += d
	}
	m.meta.size += int64(sign) * r.size
}

// insert adds a new message; it allocates r.uid and r.modSeq.
func (m *mboxTx) insert(r *msgRec) error {
	r.uid = m.meta.uidNext
	m.meta.uidNext++
	r.modSeq = m.nextModSeq()
	m.noteDovecotUID(r)
	return m.put(r)
}

// put stores a new message whose UID and MODSEQ are set, giving it an
// EMAILID unless it came with one (objectid.go).
func (m *mboxTx) put(r *msgRec) error {
	r.emailID = m.emailIDOf(r)
	m.noteKeywords(r.flags.keywords)
	r.flags.keywords = uniqueSorted(r.flags.keywords)
	base, _ := splitInfo(r.file)
	uid := m.bytes.u32(r.uid)
	if err := m.files.Put(m.bytes.str(base), uid); err != nil {
		return err
	}
	m.filesTop = max(m.filesTop, base)
	if !m.unlogged {
		if err := m.ms.Put(appendSeqKey(m.bytes.take(12), r.modSeq, r.uid), nil); err != nil {
			return err
		}
	}
	m.count(r, 1)
	m.listPut(r)
	return m.msgs.Put(uid, r.appendTo(m.bytes.take(r.encodedSize())))
}

// update replaces old by r (same UID) with r.modSeq already set.
func (m *mboxTx) update(old, r *msgRec) error {
	m.noteKeywords(r.flags.keywords)
	r.flags.keywords = uniqueSorted(r.flags.keywords)
	if old.modSeq != r.modSeq {
		if err := m.ms.Delete(seqKey(old.modSeq, old.uid)); err != nil {
			return err
		}
		if err := m.ms.Put(seqKey(r.modSeq, r.uid), nil); err != nil {
			return err
		}
	}
	if ob, _ := splitInfo(old.file); old.file != r.file {
		if nb, _ := splitInfo(r.file); nb != ob {
			if err := m.files.Delete([]byte(ob)); err != nil {
				return err
			}
			if err := m.files.Put([]byte(nb), u32(r.uid)); err != nil {
				return err
			}
			m.filesTop = max(m.filesTop, nb)
		}
	}
	m.count(old, -1)
	m.count(r, 1)
	m.listPut(r)
	return m.msgs.Put(u32(r.uid), r.encode())
}

// remove deletes a message from the index and logs its expunge at modSeq,
// with its record as it was (without the file name): a session not yet
// told of the expunge still shows the message as it last saw it, even
// rebuilt from its UIDs after hibernation (ExpungedMessages). Its kept
// envelope stays as long as the log entry (trimExpungeLog).
func (m *mboxTx) remove(r *msgRec, modSeq uint64) error {
	base, _ := splitInfo(r.file)
	if err := m.files.Delete([]byte(base)); err != nil {
		return err
	}
	if err := m.ms.Delete(seqKey(r.modSeq, r.uid)); err != nil {
		return err
	}
	if err := m.msgs.Delete(u32(r.uid)); err != nil {
		return err
	}
	m.listDelete(r.uid)
	m.count(r, -1)
	gone := *r
	gone.file = ""
	if err := m.xplog.Put(seqKey(modSeq, r.uid), gone.encode()); err != nil {
		return err
	}
	m.meta.expungeCount++
	return m.trimExpungeLog()
}

// trimExpungeLog keeps the expunge log within its limit; it trims a tenth
// at a time so that the cost is amortized.
func (m *mboxTx) trimExpungeLog() error {
	if m.expungeLimit == 0 || m.meta.expungeCount <= m.expungeLimit {
		return nil
	}
	target := m.expungeLimit - m.expungeLimit/10
	previews := m.b.Bucket(bktPreviews)
	c := m.xplog.Cursor()
	for k, _ := c.First(); k != nil && m.meta.expungeCount > target; k, _ = c.First() {
		if ms := binary.BigEndian.Uint64(k[:8]); ms > m.meta.expungeFloor {
			m.meta.expungeFloor = ms
		}
		if m.envelopes != nil {
			if err := m.envelopes.Delete(k[8:12]); err != nil {
				return err
			}
		}
		if m.sortRecs != nil {
			if err := m.sortRecs.Delete(k[8:12]); err != nil {
				return err
			}
		}
		if previews != nil {
			if err := previews.Delete(k[8:12]); err != nil {
				return err
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
		m.meta.expungeCount--
	}
	return nil
}

// defaultSpecialUse gives the RFC 6154 attribute of a default mailbox name,
// so that a rebuilt index gets them back.
func defaultSpecialUse(name string) string {
	for _, d := range defaultMailboxes {
		if d.name == name {
			return d.specialUse
		}
	}
	return ""
}

// defaultMailboxes are created for every new user, subscribed.
var defaultMailboxes = []struct{ name, specialUse string }{
	{"Drafts", `\Drafts`},
	{"Sent", `\Sent`},
	{"Trash", `\Trash`},
	{"Junk", `\Junk`},
	{"Archive", `\Archive`},
}
