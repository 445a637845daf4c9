package maildir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The name log: under flag_sync "always" a flag change that renames a
// message file (system flags live in its name) or an expunge that removes
// one is acknowledged once the index has committed, without waiting for
// an fsync of cur/. The commit also writes, in the same transaction, what
// it did to the file name (old name → new name, or old name → removed)
// to the name log, a bucket of the index. cur/ is fsynced in the
// background, nameSyncDelay later and once for every change of that
// interval, after which their entries are deleted by the next flag
// commit.
//
// A power loss may bring back a file's old name (or an expunged file)
// beside an index that committed the change; the rescan would take that
// name for a change made on disk and undo the acknowledged change (or give
// the expunged message a new UID). So when an index is opened, every
// entry still in the log is replayed first, in order: a file found under
// an entry's old name (and not under its new one) is renamed to the new
// name, or removed. Replaying is idempotent and right from any state a
// crash can leave: each message file has one name at any time, and the
// log holds every rename since the last fsync of its folder, so replaying
// the whole chain moves the file from wherever it is along to its last
// name. An fsync of cur/ then makes the repair durable.
//
// What it saves: before, the commit's two fdatasyncs and the fsync of
// cur/ (a journal commit on ext4) were all waited for; now only the two
// fdatasyncs, and one folder fsync serves every change of a second.

// bktNameLog is the name log (top-level bucket, made on first use):
// sequence -> mailbox id (8 bytes), old file name, '/', new file name
// ("" when the file was removed).
var bktNameLog = []byte("namelog")

// nameSyncDelay is how long after a logged rename or removal its folder
// is fsynced. Each entry stays in the index until then; a longer delay
// shares one fsync among more changes.
const nameSyncDelay = time.Second

// nameSync is the folder-sync state of one user's name log.
type nameSync struct {
	// syncing is held by syncNameLog throughout, so that a later run never
	// marks synced the entries of an earlier one still fsyncing.
	syncing sync.Mutex
	mu      sync.Mutex
	// dirs lists the folders whose logged renames are not yet fsynced.
	dirs []string
	// logged is the sequence of the last entry committed; synced that of
	// the last whose folder was fsynced (entries up to it may go).
	logged, synced uint64
	timer          *time.Timer // fsyncs dirs; nil when none is set
	stopped        bool        // the index closed: no more syncs
}

// logName writes to the name log, in the transaction of a flag change or
// expunge, that the file old of this mailbox's cur/ was renamed to new
// (or removed: new is ""). Under delayed flag sync, or when the store
// never syncs, there is no log: nothing is fsynced there anyway.
func (m *mboxTx) logName(old, new string) error {
	u := m.u
	if u.s.opts.NoSync || u.s.opts.FlagSyncDelay > 0 {
		return nil
	}
	b, err := m.tx.CreateBucketIfNotExists(bktNameLog)
	if err != nil {
		return fmt.Errorf("name log: %w", err)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("name log: %w", err)
	}
	v := make([]byte, 0, 8+len(old)+1+len(new))
	v = binary.BigEndian.AppendUint64(v, m.id)
	v = append(append(append(v, old...), '/'), new...)
	if err := b.Put(u64(seq), v); err != nil {
		return fmt.Errorf("name log: %w", err)
	}
	q := &u.commits
	q.logged = seq
	cur := filepath.Join(m.dir, "cur")
	if !slices.Contains(q.dirs, cur) {
		q.dirs = append(q.dirs, cur)
	}
	return nil
}

// decodeNameLog splits an entry of the name log.
func decodeNameLog(v []byte) (id uint64, old, new string, err error) {
	if len(v) < 8 {
		return 0, "", "", fmt.Errorf("name log entry of %d bytes: %w", len(v), errCorrupt)
	}
	o, n, ok := bytes.Cut(v[8:], []byte{'/'})
	if !ok || len(o) == 0 {
		return 0, "", "", fmt.Errorf("name log entry %q: %w", v, errCorrupt)
	}
	return binary.BigEndian.Uint64(v), string(o), string(n), nil
}

// pruneNameLog deletes, in a write transaction, the entries whose folders
// were fsynced.
func (u *userState) pruneNameLog(tx *bolt.Tx) error {
	u.names.mu.Lock()
	upTo := u.names.synced
	u.names.mu.Unlock()
	b := tx.Bucket(bktNameLog)
	if b == nil || upTo == 0 {
		return nil
	}
	c := b.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= upTo; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return fmt.Errorf("prune name log: %w", err)
		}
	}
	return nil
}

// namesCommitted notes, after a commit, the folders its logged renames
// were in and its last entry, and sets the timer that fsyncs them.
func (u *userState) namesCommitted(dirs []string, logged uint64) {
	if len(dirs) == 0 {
		return
	}
	n := &u.names
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, d := range dirs {
		if !slices.Contains(n.dirs, d) {
			n.dirs = append(n.dirs, d)
		}
	}
	n.logged = max(n.logged, logged)
	if n.timer == nil && !n.stopped {
		n.timer = time.AfterFunc(u.s.opts.syncNamesAfter(), u.syncNameLog)
	}
}

// syncNamesAfter is how long after a logged rename its folder is fsynced.
func (o Options) syncNamesAfter() time.Duration {
	if o.nameSyncDelay > 0 {
		return o.nameSyncDelay
	}
	return nameSyncDelay
}

// syncNameLog fsyncs the folders of logged renames, so that their entries
// may go. A folder that fails to sync is tried again later (its entries
// stay: a replay at the next open repairs what a power loss undid); one
// that is gone (the mailbox was deleted) needs nothing. RenameMailbox
// calls it before it moves folders, since their paths are what it syncs.
func (u *userState) syncNameLog() {
	n := &u.names
	n.syncing.Lock()
	defer n.syncing.Unlock()
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	if n.timer != nil {
		n.timer.Stop() // when called before it fired (RenameMailbox)
		n.timer = nil
	}
	dirs, upTo := n.dirs, n.logged
	n.dirs = nil
	n.mu.Unlock()
	var synced, failed []string
	for _, d := range dirs {
		err := syncDir(d)
		switch {
		case err == nil:
			synced = append(synced, d)
		case errors.Is(err, os.ErrNotExist):
		default:
			u.s.log.Warn("fsync folder of renamed messages", "user", u.name, "dir", d, "err", err)
			failed = append(failed, d)
		}
	}
	if len(failed) > 0 {
		u.namesCommitted(failed, 0) // tried again after the delay
	} else {
		n.mu.Lock()
		n.synced = max(n.synced, upTo)
		n.mu.Unlock()
	}
	// Tests hear of a sync once the next commit may prune what it made
	// durable.
	if u.s.opts.dirSynced != nil {
		for _, d := range synced {
			u.s.opts.dirSynced(d)
		}
	}
}

// stopNameLog stops the folder syncs of an index that is closing. Its log
// entries not yet synced stay in the index, which is durable: the next
// open replays them and syncs their folders then. So closing, which
// happens under the store's lock, waits for no fsync.
func (u *userState) stopNameLog() {
	n := &u.names
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = true
	if n.timer != nil {
		n.timer.Stop()
		n.timer = nil
	}
}

// replayNameLog replays the name log of an index just opened, before
// anything reads its folders (see above). The folders it names are
// fsynced a moment later, and its entries deleted by the next flag commit
// after that.
func (u *userState) replayNameLog(db *bolt.DB) error {
	var dirs []string
	var last uint64
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktNameLog)
		if b == nil {
			return nil
		}
		boxes := tx.Bucket(bktBoxes)
		return b.ForEach(func(k, v []byte) error {
			last = binary.BigEndian.Uint64(k)
			id, old, new, err := decodeNameLog(v)
			if err != nil {
				return err
			}
			mb := boxes.Bucket(u64(id))
			if mb == nil {
				return nil // mailbox deleted since
			}
			meta, err := decodeMeta(mb.Get(keyBoxMeta))
			if err != nil {
				return fmt.Errorf("mailbox id %d meta: %w", id, err)
			}
			cur := filepath.Join(u.maildir, dirName(meta.name), "cur")
			if !slices.Contains(dirs, cur) {
				dirs = append(dirs, cur)
			}
			return redoName(cur, old, new)
		})
	})
	if err != nil {
		return fmt.Errorf("replay name log: %w", err)
	}
	// The entries stay until their folders are fsynced, in the
	// background as after a commit: the open waits for no fsync. Those
	// of deleted mailboxes only need no sync.
	if len(dirs) == 0 {
		u.names.mu.Lock()
		u.names.logged, u.names.synced = last, last
		u.names.mu.Unlock()
	}
	u.namesCommitted(dirs, last)
	return nil
}

// redoName redoes one logged rename (or removal) in cur if the file is
// still under its old name.
func redoName(cur, old, new string) error {
	from := filepath.Join(cur, old)
	if new == "" {
		if err := os.Remove(from); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	to := filepath.Join(cur, new)
	if exists(to) || !exists(from) {
		return nil
	}
	return os.Rename(from, to)
}
