package maildir

import (
	"path/filepath"
	"strconv"

	"github.com/dormouse/dormouse/mailstore"
)

var _ mailstore.SearchIndexHome = (*mailboxHandle)(nil)

// SearchIndexDir returns <user dir>/search/<mailbox id>
// (mailstore.SearchIndexHome): beside the user's index, outside the
// Maildir, so that neither the disk watcher nor another IMAP server
// sharing the Maildir sees it; named by the mailbox's index id, which
// survives renames.
func (h *mailboxHandle) SearchIndexDir() string {
	return filepath.Join(h.u.dir, "search", strconv.FormatUint(h.id, 10))
}
