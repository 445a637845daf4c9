package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// indexFile is the name of the bbolt index in the user folder.
const indexFile = "index.db"

// openIndex opens the user's index. An index that bbolt cannot open (or
// whose buckets are broken) is moved aside and a new one is built from the
// Maildir by the rescans: a warning, never a crash.
func (u *userState) openIndex() error {
	path := filepath.Join(u.dir, indexFile)
	_, statErr := os.Stat(path)
	existed := statErr == nil
	db, err := u.tryOpen(path)
	if err != nil && !errors.Is(err, bolterrors.ErrTimeout) && !errors.Is(err, os.ErrPermission) {
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().UnixNano())
		u.s.log.Warn("index unreadable, rebuilding from Maildir with new UIDVALIDITY",
			"user", u.name, "err", err, "moved_to", aside)
		if rerr := os.Rename(path, aside); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return fmt.Errorf("open index of %s: %w (moving it aside: %v)", u.name, err, rerr)
		}
		existed = false
		db, err = u.tryOpen(path)
	}
	if err == nil {
		db, err = u.openUnsynced(db, path)
		existed = existed && db != nil
		if db == nil && err == nil {
			db, err = u.tryOpen(path)
		}
	}
	if err == nil {
		if err = u.replayNameLog(db); err != nil {
			db.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("open index of %s: %w", u.name, err)
	}
	if !existed {
		if _, serr := os.Stat(u.maildir); serr == nil {
			u.s.log.Debug("new index; mailboxes get UIDs from a rescan", "user", u.name)
		}
	}
	u.db = db
	return nil
}

// openUnsynced deals with an index that had unsynced commits when its
// process ended (flagsync.go): one of this boot is synced and kept; one of
// another boot is closed and moved aside (db is then nil), to be rebuilt.
func (u *userState) openUnsynced(db *bolt.DB, path string) (*bolt.DB, error) {
	marked, thisBoot := u.unsyncedBoot()
	if !marked {
		return db, nil
	}
	if thisBoot {
		if err := db.Sync(); err != nil {
			db.Close()
			return nil, fmt.Errorf("fdatasync: %w", err)
		}
		if err := removeUnsynced(u.dir); err != nil {
			db.Close()
			return nil, err
		}
		return db, nil
	}
	db.Close()
	aside := fmt.Sprintf("%s.unsynced-%d", path, time.Now().UnixNano())
	u.s.log.Warn("index had unsynced flag changes when the machine stopped; rebuilding it from Maildir with new UIDVALIDITY",
		"user", u.name, "moved_to", aside)
	if err := os.Rename(path, aside); err != nil {
		return nil, fmt.Errorf("move index aside: %w", err)
	}
	return nil, removeUnsynced(u.dir)
}

// indexMmapSize is the address space bbolt maps for an index from the
// start. Whenever a transaction outgrows the map, bbolt maps the file
// anew and first copies every node the transaction changed out of the old
// map: the first open of a 100,000-message folder remapped a dozen times
// and spent a quarter of its CPU time copying. Only pages the index uses
// are ever touched, so the reservation costs address space, not memory;
// 256 MiB is the index of about 600,000 messages. It is taken only for
// an index that is new or nearly empty (mmapAhead), the one that a first
// open may fill with a whole Maildir: thousands of users' settled indexes
// would otherwise reserve a quarter of a gigabyte of address space each.
const indexMmapSize = 256 << 20

// mmapAhead is the initial map size for the index at path: indexMmapSize
// when the file is missing or under 1 MiB, else bbolt's own sizing.
func mmapAhead(path string) int {
	if fi, err := os.Stat(path); err == nil && fi.Size() >= 1<<20 {
		return 0
	}
	return indexMmapSize
}

// tryOpen opens the bbolt file and checks that its buckets are there.
func (u *userState) tryOpen(path string) (db *bolt.DB, err error) {
	if err := os.MkdirAll(u.dir, 0o700); err != nil {
		return nil, err
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 10 * time.Second, NoSync: u.s.opts.NoSync, InitialMmapSize: mmapAhead(path)})
	if err != nil {
		return nil, err
	}
	defer func() {
		// bbolt panics on some corrupt pages rather than failing.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errCorrupt, r)
		}
		if err != nil {
			db.Close()
			db = nil
		}
	}()
	// Most opens find a healthy index: check it in a read transaction and
	// write (and fsync) only to create the buckets of a new one.
	ok := false
	err = db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bktMeta, bktNames, bktBoxes, bktSubs} {
			if tx.Bucket(b) == nil {
				return nil
			}
		}
		ok = true
		// Decode every mailbox's meta: a cheap check that catches most
		// damage.
		boxes := tx.Bucket(bktBoxes)
		return boxes.ForEachBucket(func(k []byte) error {
			_, err := decodeMeta(boxes.Bucket(k).Get(keyBoxMeta))
			return err
		})
	})
	if err == nil && !ok {
		err = db.Update(initBuckets)
	}
	return db, err
}

// update runs fn in a write transaction, turning a bbolt panic (a corrupt
// page) into an error.
func (u *userState) update(fn func(*bolt.Tx) error) (err error) {
	defer u.noteCorrupt(&err)
	return u.db.Update(func(tx *bolt.Tx) error {
		// A commit fdatasyncs unless the store never does or this is a
		// delayed one (updateDelayed sets it after this).
		tx.DB().NoSync = u.s.opts.NoSync
		return fn(tx)
	})
}

// noteCorrupt turns a bbolt panic into an error and remembers that the
// index is damaged: when the last handle goes, the file is moved aside and
// the next open rebuilds it from the Maildir.
func (u *userState) noteCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("index of %s: %w: %v", u.name, errCorrupt, r)
	}
	if *err != nil && errors.Is(*err, errCorrupt) && u.corrupt.CompareAndSwap(false, true) {
		u.s.log.Warn("index damaged; it is rebuilt when no session holds it", "user", u.name, "err", *err)
	}
}

// discardIfCorrupt moves a damaged, closed index aside.
func (u *userState) discardIfCorrupt() {
	if !u.corrupt.Load() {
		return
	}
	path := filepath.Join(u.dir, indexFile)
	aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().UnixNano())
	if err := os.Rename(path, aside); err != nil {
		u.s.log.Warn("move damaged index aside", "user", u.name, "err", err)
	}
}

// view runs fn in a read transaction, like update. It first waits for a
// commit whose change was announced early (waitAnnounced).
func (u *userState) view(fn func(*bolt.Tx) error) (err error) {
	u.waitAnnounced()
	defer u.noteCorrupt(&err)
	return u.db.View(fn)
}

// makeMaildir creates dir with cur/, new/ and tmp/; a Maildir++ subfolder
// also gets the "maildirfolder" marker file.
func makeMaildir(dir string, sub, noSync bool) error {
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	if sub {
		f, err := os.OpenFile(filepath.Join(dir, "maildirfolder"), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		f.Close()
	}
	if noSync {
		return nil
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// syncDir fsyncs a directory so that renames and creations in it last.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
