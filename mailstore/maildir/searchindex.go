package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

var _ mailstore.SearchIndexHome = (*mailboxHandle)(nil)

// SearchIndexDir returns <user dir>/search/<mailbox id>
// (mailstore.SearchIndexHome): beside the user's index, outside the
// Maildir, so that neither the disk watcher nor another IMAP server
// sharing the Maildir sees it; named by the mailbox's index id, which
// survives renames.
func (h *mailboxHandle) SearchIndexDir() string {
	return h.u.searchIndexDir(h.id)
}

// searchIndexDir is where mailbox id's search index lives.
func (u *userState) searchIndexDir(id uint64) string {
	return filepath.Join(u.dir, "search", strconv.FormatUint(id, 10))
}

// dropSearchIndexes removes the search indexes of the mailboxes emptied
// (a deleted mailbox kept as \Noselect for its children: its id stays,
// its messages are gone), and every index whose mailbox id the user's
// index no longer knows: the mailbox deleted just now, and any left by a
// mailbox whose state was dropped elsewhere (a folder that vanished from
// disk, a Dovecot folder renamed at takeover) or by a crash between a
// DELETE's commit and this removal. Ids are never reused, so such an
// index would never be read again; it would only hold its bytes. Called
// after the commit, outside bbolt's writer lock; a search still running
// in a deleted mailbox may write its index back, and the next DELETE
// removes it.
func (u *userState) dropSearchIndexes(emptied ...uint64) {
	root := filepath.Join(u.dir, "search")
	ents, err := os.ReadDir(root)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			u.s.log.Warn("list search indexes", "user", u.name, "err", err)
		}
		return
	}
	var gone []string
	err = u.view(func(tx *bolt.Tx) error {
		boxes := tx.Bucket(bktBoxes)
		for _, e := range ents {
			id, perr := strconv.ParseUint(e.Name(), 10, 64)
			if perr != nil {
				continue // not an index of ours
			}
			if slices.Contains(emptied, id) || boxes.Bucket(u64(id)) == nil {
				gone = append(gone, e.Name())
			}
		}
		return nil
	})
	if err != nil {
		u.s.log.Warn("find search indexes of deleted mailboxes", "user", u.name, "err", err)
		return
	}
	for _, name := range gone {
		if err := removeFolder(filepath.Join(root, name)); err != nil {
			u.s.log.Warn("remove search index of a deleted mailbox", "user", u.name, "dir", name, "err", err)
		}
	}
}
