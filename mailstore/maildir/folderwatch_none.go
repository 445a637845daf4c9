package maildir

import "errors"

// errNoFolderWatch says that folder watches are off (Options.NoFolderWatch).
var errNoFolderWatch = errors.New("folder watch: off")

// noFolderWatcher is the folderWatcher of a store whose folder watches are
// off: it watches nothing, so mailboxes count as unwatched (a mailbox is
// rescanned when opened) and changes by other programs come only through
// Store.Hint.
type noFolderWatcher struct {
	evs  chan folderEvent
	errs chan error
}

func newNoFolderWatcher() *noFolderWatcher {
	return &noFolderWatcher{evs: make(chan folderEvent), errs: make(chan error)}
}

func (n *noFolderWatcher) add(string) (int32, error)        { return 0, errNoFolderWatch }
func (n *noFolderWatcher) addCreates(string) (int32, error) { return 0, errNoFolderWatch }
func (n *noFolderWatcher) remove(int32)                     {}
func (n *noFolderWatcher) events() <-chan folderEvent       { return n.evs }
func (n *noFolderWatcher) errors() <-chan error             { return n.errs }

// readQueued: nothing is watched, so nothing is ever on its way.
func (n *noFolderWatcher) readQueued() (uint64, bool) { return 0, true }

func (n *noFolderWatcher) close() error {
	close(n.evs)
	close(n.errs)
	return nil
}
