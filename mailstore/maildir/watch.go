package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// boxKey names one mailbox of one user.
type boxKey struct{ user, mailbox string }

// subNames are a mailbox's watched folders, in the order of boxWatch.wds.
// new/ and cur/ hold its messages; tmp/ is watched for creations only, as
// the hint that a delivery is on its way (diskWatcher.warm).
var subNames = [3]string{"new", "cur", "tmp"}

// tmpSub is the index of tmp/ in subNames and boxWatch.wds.
const tmpSub = 2

// boxWatch is the disk watch of one mailbox: one watch on each of new/ and
// cur/, however many handles and subscribers hold it. A user's Maildir
// root, watched for user-wide holds, is a boxWatch too, with mailbox ""
// and its one watch in wds[0]. It keeps no path: the folders' paths are
// made again from the key when needed, which is rarely.
type boxWatch struct {
	key   boxKey
	gen   uint64 // bumped each time the watches are (re)added
	holds int32  // int32: with wds and slot the record stays 64 bytes
	// wds are the watch descriptors of new/, cur/ and tmp/; 0: not
	// watched.
	wds  [3]int32
	slot uint32 // index in diskWatcher.slots while any wd is set
	// synced: a full sync completed since the watches were added at gen.
	synced bool
	// lingered: held again while its watches lingered with no holder.
	// An event of a write just before this hold may still be on its way
	// through the watcher, so the opener checks the folders' mtimes
	// itself (ensureSynced) rather than trust the watch, as Dovecot
	// checks them at every SELECT: a message delivered outside the
	// server before a SELECT is in its answer.
	lingered bool
	gone     bool // the mailbox was deleted: holds no longer add watches
}

// watched reports whether the mailbox's messages are watched: new/ or
// cur/ (tmp/ tells of no message).
func (b *boxWatch) watched() bool { return b.wds[0] != 0 || b.wds[1] != 0 }

// hasWatch reports whether any folder of the mailbox, tmp/ included, is
// watched: the boxWatch then has a slot.
func (b *boxWatch) hasWatch() bool { return b.wds != [3]int32{} }

// pending gathers one mailbox's file events until the watcher acts on them.
type pending struct {
	full     bool
	newNames map[string]bool
	curNames map[string]bool
}

// diskWatcher turns file events on mailbox folders into index changes
// and change events. One goroutine reads the folder watcher; events are
// gathered for Options.EventDelay and then applied per mailbox in one
// transaction.
//
// Watches are kept compact, since every hibernated user holds one on its
// INBOX: wds maps a watch descriptor to a slot of slots and the folder
// (new/, cur/ or tmp/) in the low two bits; the boxWatch in the slot
// knows the rest.
type diskWatcher struct {
	s  *Store
	fw folderWatcher

	mu    sync.Mutex
	boxes map[boxKey]*boxWatch
	wds   map[int32]uint32 // wd -> slot<<2 | index in boxWatch.wds
	slots []*boxWatch      // boxWatches with a watch; nil: free
	free  []uint32         // free slots
	// userWide counts each user's user-wide holds.
	userWide map[string]int
	// wideHeld lists the mailboxes a user-wide hold keeps watched.
	wideHeld map[string]map[string]*boxWatch
	// own counts, per user, the mailbox names this process is creating,
	// deleting or renaming (ownChange): reconcileUser leaves them, their
	// parents and their children alone until the change has updated
	// wideHeld, so that a folder of our own making is not reported a
	// second time as another tool's (a NOTIFY client would hear of it
	// twice).
	own   map[string]map[string]int
	queue map[boxKey]*pending
	gen   uint64
	// roots has each user-wide held user's Maildir root watch: folders
	// created or removed by other tools become events.
	roots     map[string]*boxWatch
	rootQueue map[string]bool // users whose root changed

	// lingering holds the timers of mailboxes no one holds any more
	// whose watches stay for linger (watchLinger): inotify_add_watch on a
	// cur/ of 100,000 files took some 9 ms of kernel time (a CPU profile
	// of repeated SELECTs), paid again by each SELECT of a client that
	// connects anew for each command.
	lingering map[*boxWatch]*time.Timer
	linger    time.Duration

	// applying holds the mailboxes whose queued work the running flush
	// took, until it ends.
	applying map[boxKey]bool
	// received counts the events the loop has taken from fw (settle).
	received atomic.Uint64
	settles  chan settleRequest

	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// settleRequest asks the loop to take the events up to the upto-th
// handed over by the folder watcher and apply all gathered work, then to
// close done.
type settleRequest struct {
	upto uint64
	done chan struct{}
}

// watchLinger is how long a mailbox's folders stay watched after the last
// hold on them ends, unless Options.WatchLinger says otherwise.
const watchLinger = 10 * time.Second

func newDiskWatcher(s *Store) (*diskWatcher, error) {
	var fw folderWatcher = newNoFolderWatcher()
	if !s.opts.NoFolderWatch {
		var err error
		if fw, err = newFolderWatcher(); err != nil {
			return nil, fmt.Errorf("watch mailbox folders: %w", err)
		}
	}
	w := &diskWatcher{
		s: s, fw: fw,
		boxes:     map[boxKey]*boxWatch{},
		wds:       map[int32]uint32{},
		userWide:  map[string]int{},
		wideHeld:  map[string]map[string]*boxWatch{},
		own:       map[string]map[string]int{},
		queue:     map[boxKey]*pending{},
		roots:     map[string]*boxWatch{},
		rootQueue: map[string]bool{},
		lingering: map[*boxWatch]*time.Timer{},
		linger:    watchLinger,
		applying:  map[boxKey]bool{},
		settles:   make(chan settleRequest),
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	switch l := s.opts.WatchLinger; {
	case l < 0:
		w.linger = 0
	case l > 0:
		w.linger = l
	}
	w.wg.Add(1)
	go w.loop()
	return w, nil
}

func (w *diskWatcher) close() error {
	w.mu.Lock()
	for b, t := range w.lingering {
		t.Stop()
		delete(w.lingering, b)
	}
	w.mu.Unlock()
	close(w.done)
	err := w.fw.close()
	w.wg.Wait()
	return err
}

// maildir is the folder of a user's Maildir.
func (w *diskWatcher) maildir(user string) string {
	return filepath.Join(w.s.root, "users", user, "Maildir")
}

// hold keeps a mailbox (or, with mailbox "", all of a user's mailboxes)
// watched until the returned func is called. rescan queues a full rescan
// in the background (of folders whose mtimes changed), so that changes
// made before the watches were added are found, unless the mailbox has
// been watched and scanned since then.
func (w *diskWatcher) hold(user, mailbox string, rescan bool) (release func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Each release func guards itself with a flag under w.mu rather than
	// a sync.Once: every hibernated connection keeps one.
	released := false
	if mailbox == "" {
		w.holdUserLocked(user, rescan)
		return func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if !released {
				released = true
				w.releaseUserLocked(user)
			}
		}
	}
	b := w.holdLocked(boxKey{user, mailbox})
	if rescan && !b.synced {
		// Only a folder nobody watched since its last full scan can hide
		// changes; one watched and scanned all along needs no rescan.
		w.enqueueLocked(b.key, true, "", "")
	}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !released {
			released = true
			w.releaseLocked(b)
		}
	}
}

// holdUserLocked adds a user-wide hold: the first watches the Maildir
// root and holds every mailbox found in it.
func (w *diskWatcher) holdUserLocked(user string, rescan bool) {
	w.userWide[user]++
	if w.userWide[user] > 1 {
		return
	}
	held := map[string]*boxWatch{}
	root := &boxWatch{key: boxKey{user: user}}
	if wd, err := w.fw.add(w.maildir(user)); err == nil {
		w.bindLocked(root, 0, wd)
	}
	w.roots[user] = root
	for _, name := range listMailboxDirs(w.maildir(user)) {
		b := w.holdLocked(boxKey{user, name})
		held[name] = b
		if rescan {
			w.enqueueLocked(b.key, true, "", "")
		}
	}
	w.wideHeld[user] = held
}

// releaseUserLocked ends a user-wide hold; the last drops the root's watch
// and the holds on the user's mailboxes.
func (w *diskWatcher) releaseUserLocked(user string) {
	w.userWide[user]--
	if w.userWide[user] > 0 {
		return
	}
	delete(w.userWide, user)
	if root := w.roots[user]; root != nil {
		w.removePathsLocked(root)
		delete(w.roots, user)
	}
	for _, b := range w.wideHeld[user] {
		w.releaseLocked(b)
	}
	delete(w.wideHeld, user)
}

// holdLocked adds one hold on a mailbox, adding its watches with the
// first, or again when the kernel dropped them with their folders.
func (w *diskWatcher) holdLocked(k boxKey) *boxWatch {
	b := w.boxes[k]
	if b == nil {
		b = &boxWatch{key: k}
		w.boxes[k] = b
	}
	b.holds++
	if t := w.lingering[b]; t != nil {
		t.Stop()
		delete(w.lingering, b)
		b.lingered = true
	}
	if !b.gone && !b.watched() {
		w.addPathsLocked(b)
	}
	return b
}

func (w *diskWatcher) addPathsLocked(b *boxWatch) {
	dir := filepath.Join(w.maildir(b.key.user), dirName(b.key.mailbox))
	w.gen++
	b.gen = w.gen
	b.synced = false
	for i, sub := range subNames {
		if b.wds[i] != 0 {
			continue // still watched (only new/ or cur/ went away)
		}
		if i == tmpSub {
			// Only a hint: a folder watcher that cannot watch for
			// creations alone, or a missing tmp/, leaves it out.
			if wd, err := w.fw.addCreates(filepath.Join(dir, sub)); err == nil {
				w.bindLocked(b, i, wd)
			} else if !errors.Is(err, errCreatesOnly) && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, errNoFolderWatch) {
				w.s.log.Debug("watch tmp folder", "user", b.key.user, "mailbox", b.key.mailbox, "err", err)
			}
			continue
		}
		wd, err := w.fw.add(filepath.Join(dir, sub))
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, errNoFolderWatch) {
				w.s.log.Warn("watch mailbox folder", "user", b.key.user, "mailbox", b.key.mailbox, "err", err)
			}
			continue
		}
		w.bindLocked(b, i, wd)
	}
}

// bindLocked records that watch wd is folder i of b.
func (w *diskWatcher) bindLocked(b *boxWatch, i int, wd int32) {
	if _, ok := w.wds[wd]; ok {
		// The kernel answers an add of a folder it watches already with
		// that folder's descriptor: this folder is another mailbox's too,
		// under another name (a link). That mailbox keeps the watch.
		w.s.log.Warn("mailbox folder watched twice", "user", b.key.user, "mailbox", b.key.mailbox, "folder", subNames[i])
		return
	}
	if !b.hasWatch() {
		if n := len(w.free); n > 0 {
			b.slot = w.free[n-1]
			w.free = w.free[:n-1]
		} else {
			b.slot = uint32(len(w.slots))
			w.slots = append(w.slots, nil)
		}
		w.slots[b.slot] = b
	}
	b.wds[i] = wd
	w.wds[wd] = b.slot<<2 | uint32(i)
}

// unbindLocked forgets folder i of b, whose watch has ended or is ending.
func (w *diskWatcher) unbindLocked(b *boxWatch, i int) {
	delete(w.wds, b.wds[i])
	b.wds[i] = 0
	b.synced = false
	if !b.hasWatch() {
		w.slots[b.slot] = nil
		w.free = append(w.free, b.slot)
	}
}

func (w *diskWatcher) removePathsLocked(b *boxWatch) {
	for i, wd := range b.wds {
		if wd != 0 {
			w.unbindLocked(b, i)
			w.fw.remove(wd)
		}
	}
	b.synced = false
}

func (w *diskWatcher) releaseLocked(b *boxWatch) {
	b.holds--
	if b.holds > 0 || b.gone {
		return
	}
	if w.linger <= 0 {
		w.unwatchLocked(b)
		return
	}
	var t *time.Timer
	t = time.AfterFunc(w.linger, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.lingering[b] != t {
			return // held again since
		}
		delete(w.lingering, b)
		select {
		case <-w.done:
			return // the watcher is closed
		default:
		}
		if b.holds == 0 && !b.gone {
			w.unwatchLocked(b)
		}
	})
	w.lingering[b] = t
}

// unwatchLocked removes the watches of a mailbox no one holds.
func (w *diskWatcher) unwatchLocked(b *boxWatch) {
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
	if b == nil || !b.watched() {
		return false, 0
	}
	return b.synced && !b.lingered, b.gen
}

// settle returns once every change to a watched mailbox's folders made
// before the call is in the index. A watch keeps the index up to date,
// but through the loop: the kernel's event may still be unread, or
// gathered and waiting for Options.EventDelay, or being applied, and a
// reader trusting the watch would miss a delivery that landed just
// before it asked (a GETQUOTAROOT right after another program's delivery
// into Trash counted the old total). Mostly nothing is on its way and it
// costs an empty read(2) of the inotify queue; otherwise the loop
// applies what it gathered at once. Where the folder watcher cannot tell
// what is on its way (fsnotify), it returns at once, as the watch was
// trusted before.
func (w *diskWatcher) settle(k boxKey) {
	upto, ok := w.fw.readQueued()
	if !ok || w.received.Load() >= upto && !w.pendingFor(k) {
		return
	}
	r := settleRequest{upto: upto, done: make(chan struct{})}
	select {
	case w.settles <- r:
	case <-w.done:
		return
	}
	select {
	case <-r.done:
	case <-w.done:
	}
}

// pendingFor reports whether work for k is gathered or being applied.
func (w *diskWatcher) pendingFor(k boxKey) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queue[k] != nil || w.applying[k]
}

// markSynced records a full sync that began when the watch had gen.
func (w *diskWatcher) markSynced(k boxKey, gen uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if b := w.boxes[k]; b != nil && b.gen == gen && b.watched() {
		b.synced, b.lingered = true, false
	}
}

// ownChange marks names of user as changed by this process until done
// is called, after the change's own event bookkeeping (mailboxCreated,
// mailboxGone, mailboxRenamed).
func (w *diskWatcher) ownChange(user string, names ...string) (done func()) {
	w.mu.Lock()
	m := w.own[user]
	if m == nil {
		m = map[string]int{}
		w.own[user] = m
	}
	for _, n := range names {
		m[n]++
	}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, n := range names {
			if m[n]--; m[n] == 0 {
				delete(m, n)
			}
		}
		if len(m) == 0 && w.own[user] != nil && len(w.own[user]) == 0 {
			delete(w.own, user)
		}
	}
}

// ownLocked reports whether name is, is under or is above a name of
// user being changed by this process (w.mu held).
func (w *diskWatcher) ownLocked(user, name string) bool {
	for n := range w.own[user] {
		if n == name || strings.HasPrefix(name, n+"/") || strings.HasPrefix(n, name+"/") {
			return true
		}
	}
	return false
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
	if b := w.boxes[boxKey{user, name}]; b != nil && b.holds > 0 && !b.gone && !b.watched() {
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

// hint queues the work of a hint (Store.Hint): the file folder/name of
// the mailbox, or with folder "" a rescan of its folders, applied at once
// by the loop.
func (w *diskWatcher) hint(k boxKey, folder, name string) {
	w.mu.Lock()
	w.enqueueLocked(k, folder == "", folder, name)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
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
		case ev, ok := <-w.fw.events():
			if !ok {
				return
			}
			queued, warm := w.receive(ev)
			if warm != "" {
				w.s.warm(warm)
			}
			if window || !queued {
				continue
			}
			// Both halves of a rename are usually in one kernel read:
			// take the rest of this read before applying.
			w.drain()
			w.flush()
			timer.Reset(delay)
			window = true
		case err, ok := <-w.fw.errors():
			if !ok {
				return
			}
			if errors.Is(err, errEventOverflow) {
				// Events were lost: rescan everything watched whose
				// folders changed, and the roots of user-wide holds.
				w.s.log.Warn("mailbox watcher: event queue overflow, rescanning every watched mailbox")
				w.mu.Lock()
				for k, b := range w.boxes {
					b.synced = false
					w.enqueueLocked(k, true, "", "")
				}
				for user := range w.roots {
					w.rootQueue[user] = true
				}
				w.mu.Unlock()
			} else {
				w.s.log.Warn("mailbox watcher", "err", err)
			}
		case <-w.kick:
			w.flush()
		case r := <-w.settles:
			if !w.receiveUpTo(r.upto) {
				return
			}
			w.flush()
			close(r.done)
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

// take records one file event; work is false when it asks for no work.
// A file created in a mailbox's tmp/ asks for none: warm names its user,
// whose index is worth opening before the delivery lands (warm).
func (w *diskWatcher) take(ev folderEvent) (work bool, warm string) {
	if ev.op == opReadEnd {
		return false, ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ref, ok := w.wds[ev.wd]
	if !ok {
		// A watch removed since the kernel queued the event.
		return false, ""
	}
	b, i := w.slots[ref>>2], int(ref&3)
	switch ev.op {
	case opWatchEnded:
		w.unbindLocked(b, i)
		return false, ""
	case opFolderMoved:
		// The watch follows the folder to wherever it went: end it, so
		// the mailbox counts as unwatched and is rescanned when opened.
		w.unbindLocked(b, i)
		w.fw.remove(ev.wd)
		return false, ""
	}
	if b.key.mailbox == "" {
		// A Maildir root: Maildir++ folders are its dot entries.
		if len(ev.name) > 1 && ev.name[0] == '.' {
			w.rootQueue[b.key.user] = true
			return true, ""
		}
		return false, ""
	}
	if i == tmpSub {
		return false, b.key.user
	}
	if ignoredName(ev.name) {
		return false, ""
	}
	w.enqueueLocked(b.key, false, subNames[i], ev.name)
	return true, ""
}

// receive is take, counting the event as received (settle).
func (w *diskWatcher) receive(ev folderEvent) (work bool, warm string) {
	work, warm = w.take(ev)
	w.received.Add(1)
	return work, warm
}

// receiveUpTo takes events until upto of them have been received in all;
// false when the watcher closed meanwhile.
func (w *diskWatcher) receiveUpTo(upto uint64) bool {
	for w.received.Load() < upto {
		select {
		case ev, ok := <-w.fw.events():
			if !ok {
				return false
			}
			if _, warm := w.receive(ev); warm != "" {
				w.s.warm(warm)
			}
		case <-w.done:
			return false
		}
	}
	return true
}

// drain takes the rest of the events of the kernel read whose event the
// loop just took, up to the reader's mark at its end (opReadEnd), so that
// both halves of a rename are applied together when they came together
// (opReadEnd).
func (w *diskWatcher) drain() {
	for {
		select {
		case ev, ok := <-w.fw.events():
			if !ok {
				return
			}
			w.receive(ev)
			if ev.op == opReadEnd {
				return
			}
		case <-w.done:
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
		w.applying[k] = true
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		clear(w.applying)
		w.mu.Unlock()
	}()
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
			evs, err = u.syncMailbox(k.mailbox, true, nil, nil)
			if err == nil {
				w.markSynced(k, gens[k])
			}
		} else {
			evs, err = u.syncMailbox(k.mailbox, false, keys(p.newNames), keys(p.curNames))
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
	onDisk := listMailboxDirs(w.maildir(user))
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
		if w.ownLocked(user, name) {
			continue
		}
		b := held[name]
		if b == nil {
			b = w.holdLocked(boxKey{user, name})
			held[name] = b
			w.enqueueLocked(b.key, true, "", "")
			evs = append(evs, mailstore.Event{Kind: mailstore.MailboxCreated, User: user, Mailbox: name})
		} else if !b.gone && !b.watched() {
			// Its folders went away and came back (moved off and back
			// again): their watches ended with them.
			w.addPathsLocked(b)
			w.enqueueLocked(b.key, true, "", "")
		}
	}
	for name, b := range held {
		if !present[name] && !w.ownLocked(user, name) {
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
