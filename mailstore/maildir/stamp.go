package maildir

import (
	"encoding/binary"
	"hash/fnv"
	"path"
	"path/filepath"
	"slices"

	"github.com/dormouse/dormouse/mailstore"
)

// Stamps (mailstore.Stamper) let a hibernated connection answer a
// keepalive command again without opening its user's index when nothing
// changed. bbolt commits by writing one of the index file's two meta
// pages, whose transaction id grows by one with every commit, so the
// larger id of the two that pass their checksum (the one bbolt itself
// would open) names the last commit; two small reads find it. The file's
// inode tells an index replaced since (rebuilt after damage) from the
// old one.

var _ mailstore.Stamper = (*Store)(nil)

// bbolt's meta page: a 16-byte page header, then magic, version, page
// size and flags (uint32 each), the root bucket (two uint64), the
// freelist and high-water page ids, the transaction id and an FNV-1a
// checksum of the meta fields before it, in the machine's byte order
// (go.etcd.io/bbolt/internal/common: Page, Meta).
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	metaPageHeader = 16
	metaTxidAt     = metaPageHeader + 48
	metaSumAt      = metaPageHeader + 56
	metaLen        = metaSumAt + 8
)

// IndexStamp returns the inode of user's index and its last committed
// transaction id (mailstore.Stamper), after the commit of a change
// announced early.
func (s *Store) IndexStamp(user string) (mailstore.Stamp, bool) {
	if validUser(user) != nil {
		return mailstore.Stamp{}, false
	}
	// A transaction that announced its change early is read committed
	// (waitAnnounced), by whoever trusts a stamp too: what was kept at
	// the stamp before the commit would answer as if the announced
	// messages were not there, to a client another session's early
	// update already told of them. Announcing takes an open index.
	s.mu.Lock()
	u := s.users[user]
	s.mu.Unlock()
	if u != nil {
		u.waitAnnounced()
	}
	r, ino, err := openIndexPages(filepath.Join(s.root, "users", user, indexFile))
	if err != nil {
		return mailstore.Stamp{}, false
	}
	defer r.close()
	var page [metaLen]byte
	if r.readAt(page[:], 0) != nil {
		return mailstore.Stamp{}, false
	}
	txid, size, ok := parseMeta(page[:])
	if !ok {
		// bbolt would look further; the caller opens the index instead.
		return mailstore.Stamp{}, false
	}
	if r.readAt(page[:], int64(size)) == nil {
		if t, _, ok := parseMeta(page[:]); ok {
			txid = max(txid, t)
		}
	}
	return mailstore.Stamp{ino, txid}, true
}

// parseMeta returns the transaction id and page size of a bbolt meta page
// that passes its checks.
func parseMeta(b []byte) (txid uint64, pageSize uint32, ok bool) {
	e := binary.NativeEndian
	if e.Uint32(b[metaPageHeader:]) != boltMagic || e.Uint32(b[metaPageHeader+4:]) != boltVersion {
		return 0, 0, false
	}
	h := fnv.New64a()
	h.Write(b[metaPageHeader:metaSumAt])
	if h.Sum64() != e.Uint64(b[metaSumAt:]) {
		return 0, 0, false
	}
	pageSize = e.Uint32(b[metaPageHeader+8:])
	return e.Uint64(b[metaTxidAt:]), pageSize, pageSize >= metaLen
}

// FolderStamp returns a digest of user's mailbox folders and the mtimes
// of their cur/ and new/ (mailstore.Stamper): what Quota compares with
// the index (syncAllForQuota) before it trusts the counters. A folder
// another program added to or removed from, or a mailbox folder made or
// removed, changes it. It is read for every GETQUOTAROOT a sleeper
// answers, so the folders are read as raw directory names (any ".name"
// with a cur/ of its own: listMailboxDirs' folders, and perhaps a few
// more, which only makes the stamp stricter).
func (s *Store) FolderStamp(user string) (mailstore.Stamp, bool) {
	if validUser(user) != nil {
		return mailstore.Stamp{}, false
	}
	st := openStatDir(filepath.Join(s.root, "users", user, "Maildir"))
	defer st.close()
	names, err := st.names()
	if err != nil {
		return mailstore.Stamp{}, false
	}
	slices.Sort(names)
	h := fnv.New64a()
	folders := uint64(0)
	// stamp adds folder (a name in the Maildir, "" for INBOX, its root)
	// to h; false when it has no cur/ and new/.
	stamp := func(folder string) bool {
		cur, ok := st.dirMtime(path.Join(folder, "cur"))
		if !ok {
			return false
		}
		nw, ok := st.dirMtime(path.Join(folder, "new"))
		if !ok {
			return false
		}
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:8], uint64(cur))
		binary.LittleEndian.PutUint64(b[8:], uint64(nw))
		h.Write([]byte(folder))
		h.Write([]byte{0})
		h.Write(b[:])
		folders++
		return true
	}
	if !stamp("") {
		return mailstore.Stamp{}, false
	}
	for _, name := range names {
		if len(name) > 1 && name[0] == '.' && name != ".." {
			stamp(name)
		}
	}
	return mailstore.Stamp{h.Sum64(), folders}, true
}
