package maildir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Hint tells the store that a program outside it changed a mailbox, as a
// folder watch's event would (where folder watches are off, or the user's
// mailbox is not watched): folder ("new" or "cur") and name name the file
// that changed, or with both "" the mailbox's folders are rescanned.
// Nothing in it is trusted: the store looks at the disk, applies what it
// finds in one transaction and publishes the events, on the watcher's
// goroutine; Hint only queues the work. It fails for a user whose Maildir
// does not exist (a hint never creates one), and for names that are no
// user, mailbox or file name of the store.
func (s *Store) Hint(user, mailbox, folder, name string) error {
	if err := validUser(user); err != nil {
		return err
	}
	mailbox, err := canonicalName(mailbox)
	if err != nil {
		return err
	}
	switch {
	case folder == "" && name == "":
	case (folder == "new" || folder == "cur") && !ignoredName(name) && len(name) <= maxLevel:
	default:
		return fmt.Errorf("hint for %s %s: bad file %q/%q", user, mailbox, folder, name)
	}
	if fi, err := os.Stat(filepath.Join(s.root, "users", user, "Maildir")); err != nil || !fi.IsDir() {
		return fmt.Errorf("hint for %s: no Maildir", user)
	}
	s.w.hint(boxKey{user, mailbox}, folder, name)
	return nil
}
