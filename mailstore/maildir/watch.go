package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/dormouse/dormouse/mailstore"
)

// boxKey names one mailbox of one user.
type boxKey struct{ user, mailbox string }

// boxWatch is the disk watch of one mailbox: one inotify watch on each of
// new/ and cur/, however many handles and subscribers hold it.
type boxWatch struct {
	key      boxKey
	holds    int
	paths    []string // watched folders
	gen      uint64   // bumped each time the inotify watches are (re)added
	syncedAt uint64   // gen at which a full sync last completed; 0: never
	gone     bool     // the mailbox was deleted: holds no longer add watches
}

// pathInfo says which mailbox folder an inotify path is.
type pathInfo struct {
	box *boxWatch
	sub string // "new" or "cur"
}

// pending gathers one mailbox's file events until the watcher acts on them.
type pending struct {
	full     bool
	newNames map[string]bool
	curNames map[string]bool
}

// diskWatcher turns inotify events on mailbox folders into index changes
// and change events. One goroutine reads inotify; events are gathered for
// Options.EventDelay and then applied per mailbox in one transaction.
type diskWatcher struct {
	s  *Store
	fw *fsnotify.Watcher

	mu       sync.Mutex
	boxes    map[boxKey]*boxWatch
	paths    map[string]pathInfo
	userWide map[string]int // user -> number of user-wide holds
	// wideHeld lists the mailboxes a user-wide hold keeps watched.
	wideHeld map[string]map[string]*boxWatch
	queue    map[boxKey]*pending
	gen      uint64
	// roots maps a watched Maildir root to its user: with a user-wide
	// hold, folders created or removed by other tools become events.
	roots     map[string]string
	rootQueue map[string]bool // users whose root changed

	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

func newDiskWatcher(s *Store) (*diskWatcher, error) {
	fw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return nil, err
	}
	w := &diskWatcher{
		s: s, fw: fw,
		boxes:     map[boxKey]*boxWatch{},
		paths:     map[string]pathInfo{},
		userWide:  map[string]int{},
		wideHeld:  map[string]map[string]*boxWatch{},
		queue:     map[boxKey]*pending{},
		roots:     map[string]string{},
		rootQueue: map[string]bool{},
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	w.wg.Add(1)
	go w.loop()
	return w, nil
}

func (w *diskWatcher) close() error {
	close(w.done)
	err := w.fw.Close()
	w.wg.Wait()
	return err
}

// hold keeps a mailbox (or, with mailbox "", all of a user's mailboxes)
// watched until the returned func is called. rescan queues a full rescan
// in the background, so that changes made while nobody watched are found,
// unless the mailbox has been watched and scanned since then.
func (w *diskWatcher) hold(user, mailbox string, rescan bool) (release func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if mailbox == "" {
		w.userWide[user]++
		if w.userWide[user] == 1 {
			held := map[string]*boxWatch{}
			root := filepath.Join(w.s.root, "users", user, "Maildir")
			if err := w.fw.Add(root); err == nil {
				w.roots[root] = user
			}
			for _, name := range listMailboxDirs(root) {
				b := w.holdLocked(boxKey{user, name})
				held[name] = b
				if rescan {
					w.enqueueLocked(b.key, true, "", "")
				}
			}
			w.wideHeld[user] = held
		}
		var once sync.Once
		return func() {
			once.Do(func() {
				w.mu.Lock()
				defer w.mu.Unlock()
				w.userWide[user]--
				if w.userWide[user] > 0 {
					return
				}
				delete(w.userWide, user)
				root := filepath.Join(w.s.root, "users", user, "Maildir")
				if w.roots[root] == user {
					delete(w.roots, root)
					_ = w.fw.Remove(root)
				}
				for _, b := range w.wideHeld[user] {
					w.releaseLocked(b)
				}
				delete(w.wideHeld, user)
			})
		}
	}
	b := w.holdLocked(boxKey{user, mailbox})
	if rescan && b.syncedAt != b.gen {
		// Only a folder nobody watched since its last full scan can hide
		// changes; one watched and scanned all along needs no rescan.
		w.enqueueLocked(b.key, true, "", "")
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.releaseLocked(b)
		})
	}
}

// holdLocked adds one hold on a mailbox, adding its inotify watches with
// the first.
func (w *diskWatcher) holdLocked(k boxKey) *boxWatch {
	b := w.boxes[k]
	if b == nil {
		b = &boxWatch{key: k}
		w.boxes[k] = b
	}
	b.holds++
	if b.holds == 1 && !b.gone {
		w.addPathsLocked(b)
	}
	return b
}

func (w *diskWatcher) addPathsLocked(b *boxWatch) {
	dir := filepath.Join(w.s.root, "users", b.key.user, "Maildir", dirName(b.key.mailbox))
	w.gen++
	b.gen = w.gen
	b.syncedAt = 0
	for _, sub := range []string{"new", "cur"} {
		p := filepath.Join(dir, sub)
		if err := w.fw.Add(p); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				w.s.log.Warn("watch mailbox folder", "user", b.key.user, "mailbox", b.key.mailbox, "err", err)
			}
			continue
		}
		b.paths = append(b.paths, p)
		w.paths[p] = pathInfo{box: b, sub: sub}
	}
}

func (w *diskWatcher) removePathsLocked(b *boxWatch) {
	for _, p := range b.paths {
		delete(w.paths, p)
		_ = w.fw.Remove(p) // fails harmlessly when the folder is gone
	}
	b.paths = nil
	b.syncedAt = 0
}

func (w *diskWatcher) releaseLocked(b *boxWatch) {
	b.holds--
	if b.holds > 0 || b.gone {
		return
	}
	w.removePathsLocked(b)
	if w.boxes[b.key] == b {
		delete(w.boxes, b.key)
	}
}

// synced reports whether a mailbox is watched and fully synced since its
// watch began, so that the index already reflects the disk. gen is the
// token to pass to markSynced after a sync.
func (w *diskWatcher) synced(k boxKey) (ok bool, gen uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.boxes[k]
	if b == nil || len(b.paths) == 0 {
		return false, 0
	}
	return b.syncedAt == b.gen, b.gen
}

// markSynced records a full sync that began when the watch had gen.
func (w *diskWatcher) markSynced(k boxKey, gen uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if b := w.boxes[k]; b != nil && b.gen == gen && len(b.paths) > 0 {
		b.syncedAt = gen
	}
}

// mailboxCreated extends user-wide holds to a new mailbox.
// It also starts the watch of a mailbox that was watched by name before
// it existed.
func (w *diskWatcher) mailboxCreated(user, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if held := w.wideHeld[user]; held != nil && held[name] == nil {
		held[name] = w.holdLocked(boxKey{user, name})
	}
	if b := w.boxes[boxKey{user, name}]; b != nil && b.holds > 0 && !b.gone && len(b.paths) == 0 {
		w.addPathsLocked(b)
	}
}

// mailboxGone drops the watches of a deleted mailbox. Handles that still
// hold it release harmlessly.
func (w *diskWatcher) mailboxGone(user, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := boxKey{user, name}
	if b := w.boxes[k]; b != nil {
		w.removePathsLocked(b)
		delete(w.boxes, k)
		b.gone = true
	}
	if held := w.wideHeld[user]; held != nil {
		delete(held, name)
	}
}

// mailboxRenamed moves a mailbox's watch to its new folder, so open
// handles keep following disk changes.
func (w *diskWatcher) mailboxRenamed(user, from, to string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ok, nk := boxKey{user, from}, boxKey{user, to}
	if held := w.wideHeld[user]; held != nil && held[from] != nil {
		held[to] = held[from]
		delete(held, from)
	}
	b := w.boxes[ok]
	if b == nil {
		return
	}
	w.removePathsLocked(b)
	delete(w.boxes, ok)
	if w.boxes[nk] != nil {
		b.gone = true // cannot happen: the new name did not exist
		return
	}
	b.key = nk
	w.boxes[nk] = b
	if b.holds > 0 {
		w.addPathsLocked(b)
	}
}

// enqueueLocked records work for a mailbox and wakes the loop.
func (w *diskWatcher) enqueueLocked(k boxKey, full bool, sub, name string) {
	p := w.queue[k]
	if p == nil {
		p = &pending{newNames: map[string]bool{}, curNames: map[string]bool{}}
		w.queue[k] = p
	}
	p.full = p.full || full
	switch sub {
	case "new":
		p.newNames[name] = true
	case "cur":
		p.curNames[name] = true
	}
	if full {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// loop reads file events and applies them. The first event after a quiet
// spell is applied at once, so that a single delivery reaches its
// watchers without waiting; events that follow within Options.EventDelay
// are gathered and applied together when it ends, so a burst (a client
// moving many files, a tool rewriting a folder) costs one transaction
// per mailbox and delay, as before. Correctness does not depend on the
// batching: an event is only a hint of which names to look at on disk,
// and a rename seen half (its old name gone, its new one not yet
// reported) is resolved by looking in the folder (syncNames).
func (w *diskWatcher) loop() {
	defer w.wg.Done()
	delay := w.s.opts.EventDelay
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	// window is set while a delay runs: events then wait for it to end.
	window := false
	for {
		select {
		case <-w.done:
			timer.Stop()
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			queued := w.take(ev)
			if window || !queued {
				continue
			}
			// Both halves of a rename reach the kernel queue together:
			// take what fsnotify hands over at once before applying.
			w.drain()
			w.flush()
			timer.Reset(delay)
			window = true
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: rescan everything watched.
				w.mu.Lock()
				for k, b := range w.boxes {
					b.syncedAt = 0
					w.enqueueLocked(k, true, "", "")
				}
				w.mu.Unlock()
			} else {
				w.s.log.Warn("mailbox watcher", "err", err)
			}
		case <-w.kick:
			w.flush()
		case <-timer.C:
			// Work gathered during the window: apply it, and keep
			// batching while the burst lasts. A quiet window ends it.
			if w.hasWork() {
				w.flush()
				timer.Reset(delay)
			} else {
				window = false
			}
		}
	}
}

// take records one file event; false when it asks for no work.
func (w *diskWatcher) take(ev fsnotify.Event) bool {
	if ev.Op&(fsnotify.Create|fsnotify.Rename|fsnotify.Remove|fsnotify.Write) == 0 {
		return false
	}
	dir, name := filepath.Split(ev.Name)
	dir = filepath.Clean(dir)
	w.mu.Lock()
	defer w.mu.Unlock()
	if pi, ok := w.paths[dir]; ok && !ignoredName(name) {
		w.enqueueLocked(pi.box.key, false, pi.sub, name)
		return true
	}
	if user, ok := w.roots[dir]; ok && len(name) > 1 && name[0] == '.' {
		// Maildir++ folders are the root's dot entries.
		w.rootQueue[user] = true
		return true
	}
	return false
}

// drain takes the events fsnotify has ready without waiting for more.
// One yield lets its reader hand over the rest of a kernel read (the
// second half of a rename) before the queue is applied.
func (w *diskWatcher) drain() {
	runtime.Gosched()
	for {
		select {
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			w.take(ev)
		default:
			return
		}
	}
}

// hasWork reports whether events wait to be applied.
func (w *diskWatcher) hasWork() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue) > 0 || len(w.rootQueue) > 0
}

// flush applies the gathered work, one transaction per mailbox, and
// publishes the resulting events.
func (w *diskWatcher) flush() {
	w.mu.Lock()
	roots := w.rootQueue
	w.rootQueue = map[string]bool{}
	w.mu.Unlock()
	for user := range roots {
		w.s.publish(w.reconcileUser(user))
	}
	w.mu.Lock()
	q := w.queue
	w.queue = map[boxKey]*pending{}
	gens := map[boxKey]uint64{}
	for k := range q {
		if b := w.boxes[k]; b != nil {
			gens[k] = b.gen
		}
	}
	w.mu.Unlock()
	for k, p := range q {
		select {
		case <-w.done:
			return
		default:
		}
		u, err := w.s.acquire(k.user)
		if err != nil {
			w.s.log.Warn("apply mailbox changes", "user", k.user, "mailbox", k.mailbox, "err", err)
			continue
		}
		var evs []mailstore.Event
		if p.full {
			evs, err = u.syncMailbox(k.mailbox, true, true, nil, nil)
			if err == nil {
				w.markSynced(k, gens[k])
			}
		} else {
			evs, err = u.syncMailbox(k.mailbox, false, false, keys(p.newNames), keys(p.curNames))
		}
		w.s.release(u)
		if err != nil && !errors.Is(err, mailstore.ErrNoMailbox) {
			w.s.log.Warn("apply mailbox changes", "user", k.user, "mailbox", k.mailbox, "err", err)
		}
		w.s.publish(evs)
	}
}

// reconcileUser compares a user-wide watch's mailboxes with the folders on
// disk after the Maildir root changed, and reports folders that other
// tools created or removed. (A rename shows as a deletion and a creation.)
func (w *diskWatcher) reconcileUser(user string) []mailstore.Event {
	onDisk := listMailboxDirs(filepath.Join(w.s.root, "users", user, "Maildir"))
	w.mu.Lock()
	defer w.mu.Unlock()
	held := w.wideHeld[user]
	if held == nil {
		return nil
	}
	var evs []mailstore.Event
	present := map[string]bool{}
	for _, name := range onDisk {
		present[name] = true
		if held[name] == nil {
			b := w.holdLocked(boxKey{user, name})
			held[name] = b
			w.enqueueLocked(b.key, true, "", "")
			evs = append(evs, mailstore.Event{Kind: mailstore.MailboxCreated, User: user, Mailbox: name})
		}
	}
	for name, b := range held {
		if !present[name] {
			delete(held, name)
			w.releaseLocked(b)
			evs = append(evs, mailstore.Event{Kind: mailstore.MailboxDeleted, User: user, Mailbox: name})
		}
	}
	return evs
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// listMailboxDirs lists the mailbox names of a Maildir++ folder: INBOX and
// every ".Name" folder that holds a cur/.
func listMailboxDirs(maildir string) []string {
	names := []string{"INBOX"}
	ents, err := os.ReadDir(maildir)
	if err != nil {
		return names
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if n, ok := nameFromDir(e.Name()); ok && isMaildir(filepath.Join(maildir, e.Name())) {
			names = append(names, n)
		}
	}
	return names
}

// isMaildir reports whether dir looks like a Maildir (has cur/).
func isMaildir(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "cur"))
	return err == nil && fi.IsDir()
}
