package maildir

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/notify"
)

var _ mailstore.Store = (*Store)(nil)

// errNoState says the index has no state for a mailbox (yet).
var errNoState = errors.New("no index state")

// Options tune a Store. The zero value is the production setting.
type Options struct {
	// Logger receives warnings (rebuilt indexes, unreadable files); nil
	// means slog.Default().
	Logger *slog.Logger
	// NoSync skips every fsync (message files, folders and the index).
	// Only for building test fixtures: a crash can lose acknowledged mail.
	NoSync bool
	// MaxMessageSize rejects larger messages with mailstore.ErrTooBig;
	// 0 means no limit.
	MaxMessageSize int64
	// ExpungeLogLimit is how many expunges a mailbox's log keeps for
	// QRESYNC before the oldest are trimmed; 0 means 100,000.
	ExpungeLogLimit uint64
	// Bus carries change events; nil means a new bus of the Store's own.
	// Pass one to share it with other publishers (e.g. LMTP delivery).
	Bus *notify.Bus
	// EventDelay is how long the disk watcher gathers the file events
	// that follow one it applied at once, so a burst is applied in few
	// transactions; 0 means 10 ms.
	EventDelay time.Duration
	// QuotaLimits gives a user's configured quota limits (quota.go);
	// nil means none. Limits set by SETQUOTA, kept in the user's index,
	// take precedence.
	QuotaLimits func(user string) mailstore.QuotaLimits

	// FlagSyncDelay, when above 0, commits flag changes, expunges and
	// the UIDs of appended messages without fdatasync and syncs the index
	// at most this much later (flagsync.go): a process crash loses none
	// of them, a power loss or a kernel crash within the delay makes the
	// user's index be rebuilt from the Maildir. 0 (the default) makes
	// each durable before it returns. An appended message's file is
	// always durable before AppendMany returns, and other changes always
	// commit durably.
	FlagSyncDelay time.Duration

	// NoFolderWatch leaves the operating system's folder watches
	// (inotify; fsnotify elsewhere) off: changes other programs make are
	// found when a mailbox is opened (every open rescans it) and through
	// Hint, never as they happen. For Maildirs on network filesystems,
	// and to prove the hint path.
	NoFolderWatch bool

	// WatchLinger is how long a mailbox's folders stay watched after the
	// last hold on them ends (watch.go); 0 means 10 s, negative none.
	WatchLinger time.Duration

	// rescanFiles, set by tests, replaces rescanBatch.
	rescanFiles int
	// nameSyncDelay, set by tests, replaces nameSyncDelay (namelog.go).
	nameSyncDelay time.Duration
	// dirSynced, set by tests, is told of each folder fsynced after
	// logged renames and removals (syncNameLog) or with a commit of appends.
	dirSynced func(dir string)
	// beforeMoves, set by tests, runs between the early announcement of
	// a delivery into new/ and its moves into cur/ (syncMailbox).
	beforeMoves func()
	// beforeUndo, set by tests, runs before the changes of a failed flag
	// commit are undone (commitUndoing).
	beforeUndo func()
}

// Store is a Maildir++ mail store with a bbolt index per user.
type Store struct {
	root string
	opts Options
	log  *slog.Logger
	bus  *notify.Bus
	host string        // for unique file names
	seq  atomic.Uint64 // per-process file name counter
	// bufs holds 64 KiB copy buffers for appends (and the first 16 KiB
	// of each, captured for its envelope).
	bufs sync.Pool

	mu    sync.Mutex
	users map[string]*userState
	// lingering counts the users in users whose index no handle holds.
	lingering int
	closed    bool
	// linger is how long an index stays open after its last handle.
	linger time.Duration
	// listLinger is how long a mailbox's message list stays in memory
	// after it was last handed to a view (sharedlist.go).
	listLinger time.Duration

	w *diskWatcher
	// early holds the early watchers (early.go).
	early earlyWatchers
	// bootID returns the kernel's boot id (readBootID; tests replace it).
	bootID func() string
}

// userState is one user's open index, shared by all the user's handles.
type userState struct {
	s       *Store
	name    string
	dir     string // <root>/users/<name>
	maildir string
	db      *bolt.DB
	refs    int // guarded by s.mu
	// closeTimer closes the index when it has lingered unused; acquires
	// bumps with each acquire, so a timer that fired late for an index
	// taken again since leaves it open. Both guarded by s.mu.
	closeTimer *time.Timer
	acquires   uint64
	// recent holds, per mailbox id, the \Recent mark (recent.go): all
	// claims are decided under claimMu. retired is set when the index is
	// about to close: no claim is made through it any more.
	claimMu sync.Mutex
	recent  map[uint64]*recentMark
	retired bool
	// spent holds, per mailbox id, the UIDNEXT and HIGHESTMODSEQ of early
	// announcements whose transaction failed (endAnnouncement); claimMu
	// guards it too.
	spent map[uint64]announcement
	// announced is closed when the transaction that announced its change
	// early (announce) has committed or failed; nil while none is under
	// way. Readers wait for it (waitAnnounced). annMu guards it.
	annMu     sync.Mutex
	announced chan struct{}
	// commits gathers flag changes and expunges into shared commits
	// (groupcommit.go); delayed is their sync state when they commit
	// without fdatasync (flagsync.go).
	commits commitQueue
	delayed delayedSync
	// names is the folder-sync state of the name log (namelog.go).
	names nameSync
	// corrupt is set when a transaction found the index damaged.
	corrupt atomic.Bool
	// lists holds, per mailbox id, the message list of the last Snapshot
	// built, for as long as a view still uses it (sharedlist.go).
	listMu sync.Mutex
	lists  map[uint64]sharedList
	// dovecotChecked is set once the user's Dovecot files were looked
	// for (takeOverDovecotUser).
	dovecotChecked atomic.Bool
	// quotaSynced is set once every folder has index state, so the
	// mailbox counters add up to the user's quota usage (quota.go).
	quotaSynced atomic.Bool
	// opened counts the records Open read since the index pages were
	// last dropped (noteOpened).
	opened atomic.Int64
}

// Open opens the store rooted at root, creating root/users if needed.
func Open(root string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ExpungeLogLimit == 0 {
		opts.ExpungeLogLimit = 100_000
	}
	if opts.EventDelay == 0 {
		opts.EventDelay = 10 * time.Millisecond
	}
	if opts.Bus == nil {
		opts.Bus = notify.New()
	}
	if err := os.MkdirAll(filepath.Join(root, "users"), 0o700); err != nil {
		return nil, fmt.Errorf("open mail store: %w", err)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	// The Maildir spec asks for "/" and ":" in host names to be escaped.
	host = strings.NewReplacer("/", `\057`, ":", `\072`, ",", `\054`).Replace(host)
	s := &Store{
		root:       root,
		opts:       opts,
		log:        opts.Logger,
		bus:        opts.Bus,
		host:       host,
		users:      make(map[string]*userState),
		linger:     indexLinger,
		listLinger: listLinger,
		bootID:     readBootID,
	}
	s.bufs.New = func() any { b := make([]byte, 64<<10); return &b }
	w, err := newDiskWatcher(s)
	if err != nil {
		return nil, fmt.Errorf("open mail store: %w", err)
	}
	s.w = w
	return s, nil
}

// Bus returns the change bus the store publishes on.
func (s *Store) Bus() *notify.Bus { return s.bus }

// Close stops the watcher and closes every open index. Handles still open
// fail afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	// Stop the watcher first: it may be applying changes right now.
	err := s.w.close()
	s.mu.Lock()
	s.closed = true
	users := s.users
	for _, u := range users {
		if u.closeTimer != nil {
			u.closeTimer.Stop()
		}
	}
	s.users = map[string]*userState{}
	s.lingering = 0
	s.mu.Unlock()
	for _, u := range users {
		u.dropLists()
		u.retire(true) // no claim after the flush goes unwritten
		u.flushUnwritten()
		u.stopNameLog()
		u.stopCacheWrites()
		if serr := u.syncDelayed(); serr != nil && err == nil {
			err = fmt.Errorf("sync index of %s: %w", u.name, serr)
		}
		if cerr := u.db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close index of %s: %w", u.name, cerr)
		}
	}
	return err
}

// indexLinger is how long a user's index stays open after its last
// handle closes. A delivery to a hibernated user opens the index three
// times within a few milliseconds (the watcher's transaction, the
// sleeping session's update, the echo of the watcher's own rename): one
// open instead of three, and an index still closes soon after its user
// goes to sleep.
const indexLinger = time.Second

// listLinger is how long a mailbox's message list is kept after a view
// last took it, while the index is open and the mailbox unchanged: a
// client that reconnects for each SELECT (webmail, a phone and a laptop
// taking turns) finds the list of a million messages (64 MB) instead of
// reading a million records again, and memory holds it no longer.
const listLinger = 30 * time.Second

// maxLingering bounds the indexes kept open with no handle, since each
// holds a file descriptor (the limit is per process).
const maxLingering = 256

// acquire returns the user's state with its index open, opening it if no
// handle holds it. Each acquire needs one release.
func (s *Store) acquire(name string) (*userState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("mail store closed")
	}
	if u := s.users[name]; u != nil {
		s.retainLocked(u)
		return u, nil
	}
	u := &userState{s: s, name: name, dir: filepath.Join(s.root, "users", name)}
	u.maildir = filepath.Join(u.dir, "Maildir")
	if err := u.openIndex(); err != nil {
		return nil, err
	}
	u.refs = 1
	s.users[name] = u
	return u, nil
}

// warm opens a user's index ahead of a delivery, if it is closed, and
// lets it linger (indexLinger) for the delivery to find open. An MDA
// writes a message into tmp/ (and fsyncs it) before renaming it into
// new/, so a file created in tmp/ tells of a delivery a millisecond or
// more ahead: opening the index then takes the open, the largest step of
// a delivery to a sleeping user, out of the time between the rename and
// the sleeper's EXISTS. Nothing is read or changed, so a file that never
// arrives costs an open and a close. Warming never displaces an index:
// once maxLingering indexes linger it does nothing.
func (s *Store) warm(name string) {
	s.mu.Lock()
	skip := s.closed || s.users[name] != nil || s.lingering >= maxLingering
	s.mu.Unlock()
	if skip {
		return
	}
	u, err := s.acquire(name)
	if err != nil {
		// The delivery's own transaction will meet and report it.
		s.log.Debug("open index ahead of a delivery", "user", name, "err", err)
		return
	}
	s.release(u)
}

func (s *Store) retainLocked(u *userState) {
	if u.refs == 0 {
		u.closeTimer.Stop()
		s.lingering--
	}
	u.refs++
	u.acquires++
}

// release drops one reference. The index closes a moment after the last
// one (indexLinger), so a hibernated session soon keeps no file open.
func (s *Store) release(u *userState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.refs--
	if u.refs > 0 || s.users[u.name] != u {
		return
	}
	if u.corrupt.Load() || (s.lingering >= maxLingering && u.retire(false)) {
		s.closeLocked(u)
		return
	}
	s.lingering++
	at := u.acquires
	u.closeTimer = time.AfterFunc(s.linger, func() { s.expire(u, at) })
}

// expire closes an index that has lingered unused since acquire number at.
// Index state that memory holds (unwritten.go) is written first, and the index
// lingers once more.
func (s *Store) expire(u *userState, at uint64) {
	s.mu.Lock()
	if s.users[u.name] != u || u.refs > 0 || u.acquires != at {
		s.mu.Unlock()
		return
	}
	if !u.corrupt.Load() && !u.retire(false) {
		s.retainLocked(u)
		s.mu.Unlock()
		u.flushUnwritten()
		s.release(u)
		return
	}
	s.lingering--
	s.closeLocked(u)
	s.mu.Unlock()
}

func (s *Store) closeLocked(u *userState) {
	u.dropLists()
	u.retire(true)
	delete(s.users, u.name)
	u.stopNameLog()
	u.stopCacheWrites()
	if err := u.syncDelayed(); err != nil {
		s.log.Warn("sync index", "user", u.name, "err", err)
	}
	if err := u.db.Close(); err != nil {
		s.log.Warn("close index", "user", u.name, "err", err)
	}
	u.discardIfCorrupt()
}

// User opens a user's mail, creating the Maildir with the default
// mailboxes for a new user.
func (s *Store) User(ctx context.Context, name string) (mailstore.User, error) {
	if err := validUser(name); err != nil {
		return nil, fmt.Errorf("open user: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	created, err := s.ensureMaildir(name)
	if err != nil {
		return nil, err
	}
	u, err := s.acquire(name)
	if err != nil {
		return nil, err
	}
	h := &userHandle{u: u}
	if created {
		if err := u.initDefaults(); err != nil {
			h.Close()
			return nil, err
		}
	} else if err := u.takeOverDovecotUser(); err != nil {
		s.log.Warn("Dovecot takeover: subscriptions not taken over", "user", name, "err", err)
	}
	return h, nil
}

// ensureMaildir creates a new user's Maildir with the default folders. It
// is built under a temporary name and renamed into place, so a crash never
// leaves a half-made user.
func (s *Store) ensureMaildir(name string) (created bool, err error) {
	udir := filepath.Join(s.root, "users", name)
	md := filepath.Join(udir, "Maildir")
	if _, err := os.Stat(md); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(udir, 0o700); err != nil {
		return false, fmt.Errorf("create user %s: %w", name, err)
	}
	tmp, err := os.MkdirTemp(udir, ".Maildir.new-")
	if err != nil {
		return false, fmt.Errorf("create user %s: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	if err := makeMaildir(tmp, false, s.opts.NoSync); err != nil {
		return false, fmt.Errorf("create user %s: %w", name, err)
	}
	for _, d := range defaultMailboxes {
		if err := makeMaildir(filepath.Join(tmp, dirName(d.name)), true, s.opts.NoSync); err != nil {
			return false, fmt.Errorf("create user %s: %w", name, err)
		}
	}
	if err := os.Rename(tmp, md); err != nil {
		if _, serr := os.Stat(md); serr == nil {
			return false, nil // another goroutine won the race
		}
		return false, fmt.Errorf("create user %s: %w", name, err)
	}
	if !s.opts.NoSync {
		if err := syncDir(udir); err != nil {
			return false, fmt.Errorf("create user %s: %w", name, err)
		}
	}
	return true, nil
}

// initDefaults gives a new user's default mailboxes their index state and
// subscribes them.
func (u *userState) initDefaults() error {
	return u.update(func(tx *bolt.Tx) error {
		for _, name := range append([]string{"INBOX"}, defaultNames()...) {
			if _, ok := mailboxID(tx, name); !ok {
				if _, err := u.createMbox(tx, name, ""); err != nil {
					return err
				}
			}
			if err := tx.Bucket(bktSubs).Put([]byte(name), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

func defaultNames() []string {
	out := make([]string, len(defaultMailboxes))
	for i, d := range defaultMailboxes {
		out[i] = d.name
	}
	return out
}

// Watch calls fn for every change event of a mailbox of user, or of all of
// them when mailbox is "". Changes on disk are watched through one inotify
// watch per folder however many watchers there are. Watching does not keep
// the index open. A nil fn only keeps the folders watched; user "" hears
// every user and watches nothing on disk (mailstore.Store.Watch).
//
// A user or mailbox name that could not exist (e.g. "../x") gets a
// subscription that never fires, without touching the disk.
func (s *Store) Watch(user, mailbox string, fn func(mailstore.Event)) (cancel func()) {
	if user == "" && mailbox == "" && fn != nil {
		return s.bus.Subscribe("", "", fn)
	}
	if mailbox != "" {
		c, err := canonicalName(mailbox)
		if err != nil {
			return func() {}
		}
		mailbox = c
	}
	if validUser(user) != nil {
		return func() {}
	}
	release := s.w.hold(user, mailbox, true)
	if fn == nil {
		return release
	}
	unsub := s.bus.Subscribe(user, mailbox, fn)
	var once sync.Once
	return func() {
		once.Do(func() {
			unsub()
			release()
		})
	}
}

// publish sends events on the bus; it is called after the transaction that
// made the change committed and outside every lock.
func (s *Store) publish(evs []mailstore.Event) {
	now := time.Now()
	for _, ev := range evs {
		if ev.At.IsZero() {
			ev.At = now
		}
		s.bus.Publish(ev)
	}
}
