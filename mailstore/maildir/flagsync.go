package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Delayed flag sync (Options.FlagSyncDelay > 0), Dovecot's trade: flag
// changes and expunges commit to the index without its fdatasyncs, and
// the index is synced at most FlagSyncDelay later. Appends and
// deliveries (AppendMany) commit their UIDs the same way, while their
// message files and cur/ are still fsynced before their OK: the message
// lasts, and a rebuild of the index (below) finds it. Every other change
// keeps its fdatasyncs, and its commit makes the unsynced ones before it
// durable too (an fdatasync flushes the whole file).
//
// bbolt's commit writes its pages, fdatasyncs, writes the meta page and
// fdatasyncs again; without the fdatasyncs the kernel may write the meta
// page before the pages it points to, and reuse pages the last durable
// state still points to. A process that dies loses nothing by it (its
// writes are in the kernel's page cache), but a machine that loses power
// or crashes may leave the index torn, in a way bbolt cannot always see.
// So before the first unsynced commit after a sync, a marker file holding
// the kernel's boot id is written and fsynced beside the index, and it is
// removed once the index is synced. An index found with a marker of the
// same boot is whole (only the process died): it is synced and used. One
// found with a marker of another boot (or where the boot id cannot be
// read) is not trusted: it is moved aside and rebuilt from the Maildir,
// as a damaged index is, with new UIDVALIDITY values; the messages and
// their system flags (in the file names) are kept, keywords are lost and
// clients resynchronise.
//
// While the user keeps changing things the marker stays: every
// FlagSyncDelay the index is fdatasynced in the background (syncTick),
// outside bbolt's writer lock, and only a tick that finds no commit since
// the one before removes the marker. So no flag change waits for the
// marker's writing (a file fsync and a folder fsync) or the index's sync,
// except the first after an idle period; the price is that the marker
// outlives the last change by up to two delays, so a power loss within
// that time rebuilds an index that was in fact whole.

// unsyncedFile marks an index that has commits not yet synced.
const unsyncedFile = "index.unsynced"

// bootIDFile holds an id the Linux kernel chooses at each boot.
const bootIDFile = "/proc/sys/kernel/random/boot_id"

// readBootID returns the kernel's boot id, or "" where there is none.
func readBootID() string {
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

// delayedSync is the sync state of one user's index under delayed flag
// sync.
type delayedSync struct {
	mu sync.Mutex
	// dirty is set while the marker is on disk: commits since it was
	// written may have gone without fdatasync.
	dirty bool
	// begun counts the unsynced commits begun; ticked is what begun was
	// when the last tick read it (all those were synced by that tick).
	begun, ticked uint64
	timer         *time.Timer // runs syncTick every FlagSyncDelay, while dirty
}

// updateDelayed runs fn in a write transaction committed without
// fdatasync, after writing the marker if the index was clean; the
// index is synced within Options.FlagSyncDelay. The marker is written
// after fn, which only changes pages in memory, so that a transaction fn
// ends without a commit (errRollback: it changed nothing) writes none.
func (u *userState) updateDelayed(fn func(*bolt.Tx) error) error {
	return u.update(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if err := u.markUnsynced(); err != nil {
			return err
		}
		tx.DB().NoSync = true // read by this commit; the next writer resets it (userState.update)
		return nil
	})
}

// markUnsynced writes the marker and starts the sync timer, unless the
// index is dirty already. Called with bbolt's writer lock held, so no sync
// (syncDelayed, which holds it too) runs meanwhile.
func (u *userState) markUnsynced() error {
	d := &u.delayed
	d.mu.Lock()
	defer d.mu.Unlock()
	d.begun++
	if d.dirty {
		return nil
	}
	path := filepath.Join(u.dir, unsyncedFile)
	if err := writeFileAtomic(path, []byte(u.s.bootID()+"\n"), true); err != nil {
		return fmt.Errorf("mark index unsynced: %w", err)
	}
	if err := syncDir(u.dir); err != nil {
		return fmt.Errorf("mark index unsynced: %w", err)
	}
	d.dirty = true
	d.ticked = d.begun - 1 // this commit is not synced
	d.timer = time.AfterFunc(u.s.opts.FlagSyncDelay, u.syncTick)
	return nil
}

// syncTick runs every FlagSyncDelay while the index is dirty. When there
// were commits since the last tick it fdatasyncs the index, outside
// bbolt's writer lock (so that no change waits for it), and keeps the
// marker: the next change need not write it again. A tick that finds
// none since the last one syncs the index and removes the marker
// (syncDelayed).
func (u *userState) syncTick() {
	d := &u.delayed
	var idle bool
	var upTo uint64
	// In the writer lock, every commit counted in begun has written its
	// pages, so the fdatasync below makes them durable.
	err := u.db.Update(func(*bolt.Tx) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		idle, upTo = d.begun == d.ticked, d.begun
		return errRollback
	})
	if errors.Is(err, errRollback) {
		if idle {
			err = u.syncDelayed()
		} else {
			// A read transaction keeps the index open meanwhile.
			err = u.db.View(func(tx *bolt.Tx) error {
				if err := tx.DB().Sync(); err != nil {
					return fmt.Errorf("fdatasync index: %w", err)
				}
				return nil
			})
		}
	}
	if err != nil && !errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		u.s.log.Warn("sync index", "user", u.name, "err", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.dirty {
		return // synced and clean (here or by a close)
	}
	if err == nil {
		d.ticked = upTo
	}
	d.timer.Reset(u.s.opts.FlagSyncDelay)
}

// isDirty reports whether the index has commits not yet synced.
func (u *userState) isDirty() bool {
	u.delayed.mu.Lock()
	defer u.delayed.mu.Unlock()
	return u.delayed.dirty
}

// syncDelayed syncs a dirty index and removes its marker. It holds
// bbolt's writer lock (in a transaction it rolls back), so no unsynced
// commit is under way while it syncs.
func (u *userState) syncDelayed() error {
	if !u.isDirty() {
		return nil
	}
	err := u.db.Update(func(tx *bolt.Tx) error {
		d := &u.delayed
		d.mu.Lock()
		defer d.mu.Unlock()
		if !d.dirty {
			return errRollback
		}
		if err := tx.DB().Sync(); err != nil {
			return fmt.Errorf("fdatasync index: %w", err)
		}
		if err := removeUnsynced(u.dir); err != nil {
			return err
		}
		d.dirty = false
		d.timer.Stop()
		return errRollback
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// removeUnsynced removes the marker of a synced index, durably, so that
// a power loss later does not make the index look torn.
func removeUnsynced(dir string) error {
	if err := os.Remove(filepath.Join(dir, unsyncedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", unsyncedFile, err)
	}
	return syncDir(dir)
}

// unsyncedBoot reports whether the index's marker says it had unsynced
// commits when its process ended, and whether that was in this boot (the
// kernel then still holds every write: the index is whole). It is read
// with the index open, under bbolt's lock on the file, so no other
// process is using the index meanwhile.
func (u *userState) unsyncedBoot() (marked, thisBoot bool) {
	b, err := os.ReadFile(filepath.Join(u.dir, unsyncedFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, false
	}
	boot := u.s.bootID()
	return true, err == nil && boot != "" && string(bytes.TrimSpace(b)) == boot
}
