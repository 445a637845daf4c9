package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// openMbox resolves a canonical mailbox name in tx. In a write transaction
// a folder that exists on disk without index state (made by another tool,
// or after the index was lost) gets fresh state; in a read transaction that
// case is errNoState and the caller retries with a write.
func (u *userState) openMbox(tx *bolt.Tx, name string) (*mboxTx, error) {
	if id, ok := mailboxID(tx, name); ok {
		return u.loadMbox(tx, id)
	}
	if !isMaildir(filepath.Join(u.maildir, dirName(name))) {
		return nil, fmt.Errorf("mailbox %q: %w", name, mailstore.ErrNoMailbox)
	}
	if !tx.Writable() {
		return nil, errNoState
	}
	return u.createMbox(tx, name, "")
}

// openSelectable is openMbox for a mailbox that holds messages: a
// \Noselect one (a parent kept for its children) is ErrNoMailbox.
func (u *userState) openSelectable(tx *bolt.Tx, name string) (*mboxTx, error) {
	m, err := u.openMbox(tx, name)
	if err != nil {
		return nil, err
	}
	if m.meta.noSelect {
		return nil, fmt.Errorf("\\Noselect: %w", mailstore.ErrNoMailbox)
	}
	return m, nil
}

// dropPagesAfter is how many records a full rescan reads before it lets
// go of the index pages it touched (dropIndexPages).
const dropPagesAfter = 10_000

// errUnchanged rolls back a sync transaction that found nothing to do.
var errUnchanged = errors.New("unchanged")

// syncMailbox brings a mailbox's index up to date with its folder: a full
// rescan (full) of folders whose mtimes changed, or only the names seen in
// file events. It returns the
// change events to publish once the transaction committed. New messages
// and nothing else are also announced before the commit (announce): a
// delivery reaches hibernated clients without waiting for the commit's
// two fdatasyncs. A full rescan that finds more than rescanBatch files
// new to the index commits them a batch per transaction, in name order.
func (u *userState) syncMailbox(name string, full bool, newNames, curNames []string) ([]mailstore.Event, error) {
	evs, rest, err := u.syncMailboxOnce(name, full, newNames, curNames, nil)
	for err == nil && len(rest) > 0 {
		// A large folder new to the index: the next batch of its files.
		var next []mailstore.Event
		next, rest, err = u.syncMailboxOnce(name, true, nil, nil, rest)
		evs = append(evs, next...)
	}
	return evs, err
}

// syncMailboxOnce is one transaction of syncMailbox. rest, passed in and
// returned, are the files of cur/ a full rescan left for another
// transaction (rescanBatch): given, the transaction ingests the next batch
// of them instead of rescanning.
func (u *userState) syncMailboxOnce(name string, full bool, newNames, curNames, rest []string) (evs []mailstore.Event, left []string, err error) {
	if !full && !newNameOnDisk(filepath.Join(u.maildir, dirName(name), "new"), newNames) {
		need := true
		err := u.view(func(tx *bolt.Tx) error {
			m, err := u.openMbox(tx, name)
			if err == nil {
				need = m.namesNeedWork(newNames, curNames)
			}
			return nil
		})
		if err == nil && !need {
			return nil, nil, nil
		}
	}
	var ann *announcement
	walked := 0
	err = u.update(func(tx *bolt.Tx) error {
		m, err := u.openMbox(tx, name)
		if err != nil {
			return err
		}
		since := m.meta.highestModSeq
		before := string(m.meta.encode())
		cs := changeSet{rest: rest}
		defer func() { walked = cs.walked }()
		switch {
		case len(rest) > 0:
			// The next batch of a bulk ingest stays unlogged unless
			// something changed since the last (modseqlog.go).
			cs.unlogged = m.meta.unloggedModSeq == m.meta.highestModSeq
			err = m.ingestRest(&cs)
			left = cs.rest
		case full:
			err = m.fullSync(&cs)
			left = cs.rest
		default:
			// Files that arrived in new/, and nothing else (a delivery):
			// they are announced before they move to cur/ (finishMoves).
			cs.deferMoves = len(curNames) == 0
			err = m.syncNames(&cs, newNames, curNames)
		}
		if err != nil {
			return err
		}
		if m.fresh && !m.fromDovecot && len(cs.added) > 0 {
			u.s.log.Warn("mailbox had no index state; rebuilt from Maildir with new UIDVALIDITY",
				"user", u.name, "mailbox", name, "messages", len(cs.added), "uidvalidity", m.meta.uidValidity)
		}
		evs = cs.events(u.name, m)
		if !m.fresh && string(m.meta.encode()) == before {
			// Nothing changed: roll back rather than commit, which would
			// cost an fsync.
			return errUnchanged
		}
		if err := m.save(); err != nil {
			return err
		}
		ann = u.announce(&cs, m, since)
		if len(cs.moves) > 0 {
			// Announcing before the moves is as sound as before the
			// commit (see announce): the index names the files in cur/,
			// and no one reads it before the commit, which comes after
			// the moves; a crash before the commit leaves each file in
			// new/ or in cur/, unknown to the index, for the rescan; a
			// move that fails fails the transaction as a failed commit
			// does (the UIDs announced are spent, endAnnouncement), and
			// its file waits in new/ for the next event or rescan.
			if f := u.s.opts.beforeMoves; f != nil {
				f()
			}
			changed, err := m.finishMoves(&cs)
			if err != nil {
				return err
			}
			if changed {
				evs = cs.events(u.name, m)
				return m.save()
			}
		}
		return nil
	})
	u.endAnnouncement(ann, err)
	if walked >= dropPagesAfter {
		u.dropIndexPages()
	}
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sync %s: %w", name, err)
	}
	return evs, left, nil
}

// newNameOnDisk reports whether a file of newNames is still in the folder
// new/: namesNeedWork would then say yes before looking at the index, so
// a delivery is spared that read transaction before its write.
func newNameOnDisk(newDir string, newNames []string) bool {
	for _, n := range newNames {
		if !ignoredName(n) && exists(filepath.Join(newDir, n)) {
			return true
		}
	}
	return false
}

// ensureSynced makes the index reflect the disk before a mailbox is opened
// or its status read: when the watcher keeps it up to date, only what is
// on its way through the watcher (settle); otherwise a cheap mtime check,
// and a full rescan when that differs.
func (u *userState) ensureSynced(name string) error {
	k := boxKey{u.name, name}
	ok, gen := u.s.w.synced(k)
	if ok {
		u.s.w.settle(k)
		return nil
	}
	need := true
	err := u.view(func(tx *bolt.Tx) error {
		m, err := u.openMbox(tx, name)
		if err != nil {
			return err
		}
		dir := filepath.Join(u.maildir, dirName(name))
		cur, err1 := dirMtime(filepath.Join(dir, "cur"))
		nw, err2 := dirMtime(filepath.Join(dir, "new"))
		need = err1 != nil || err2 != nil || cur != m.meta.curMtime || nw != m.meta.newMtime
		return nil
	})
	if err != nil && !errors.Is(err, errNoState) {
		return err
	}
	if need {
		evs, err := u.syncMailbox(name, true, nil, nil)
		if err != nil {
			return err
		}
		u.s.publish(evs)
	}
	if gen != 0 {
		u.s.w.markSynced(k, gen)
	}
	return nil
}

// removeFolder deletes a mailbox folder; errors other than "already gone"
// are returned.
func removeFolder(dir string) error {
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
