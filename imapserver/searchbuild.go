package imapserver

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/searchindex"
)

// Background builds of search indexes (searchfts.go). A mailbox whose
// messages came without a search (files dropped into the Maildir, a
// mailbox taken over from Dovecot, mail appended before the index
// existed) has no index until its first SEARCH BODY or TEXT, which would
// then read and index every message while the client waits. So SELECT
// and EXAMINE of a mailbox of searchBuildMin messages or more queue a
// build, and one goroutine at a time, at the lowest CPU priority the
// system gives a thread (lowerThreadPriority), indexes the messages the
// index misses. A search while the build runs uses what the index
// covers and reads the rest itself, as a search without an index does:
// its answers are exact throughout, and it does not pay for the build. A
// search that comes while the build is still queued reads the same way,
// and moves the build to the front of the queue (claim).
//
// The first search of a mailbox whose build has it in hand checks on
// every core (a client waits for it, and the build has barely begun);
// the searches after it leave a core to the build (matchParallel), so
// that searches one after another cannot keep the build from ever
// covering the mailbox. A search does not feed what it read into the
// index: indexing a message costs three to four times checking it (a
// 100,000-message build took 4.1 s of CPU against 1.1 s for a search
// reading every message), so the first search would pay for the build.

// searchBuildMin is the smallest mailbox SELECT builds an index for in
// the background: a smaller one is indexed by its first search in about
// the time reading it takes anyway. Likewise, a mailbox the builder
// indexed since the server started is built again only once
// searchBuildMin messages came after the last build: the few that
// arrive between two SELECTs (an APPEND, a delivery) are read by the
// next search, which indexes them. Queueing each such increment cost a
// build, a segment file and its fsync per SELECT of a busy mailbox
// (200 in an 8 s bench/compare active run, against 5 without).
const searchBuildMin = 500

// searchBuildQueue bounds the builds waiting: a SELECT that finds the
// queue full queues nothing, and the mailbox's first search indexes it.
const searchBuildQueue = 64

// searchBuildEntries is the postings a background build collects per
// segment: 2 MiB of heap between writes (8 bytes a posting; twice that
// while a segment is sorted) where a search's own build takes up to
// 16 MiB, as a background build runs beside the sessions
// whose memory counts, and the collector lets the heap grow to twice
// what is live; the segments are merged once at the end. Each batch
// costs a file, an fsync, and a lookup in every search while the build
// runs: 256 Ki postings are about 1,500 small messages, or 40 of the
// bench fixture's messages of 1-64 KiB. (512 Ki measured 10-15 MiB more
// at the peak of a 100,000-message build than main's map of 1 Mi.)
const searchBuildEntries = 256 << 10

// searchBuildKnown bounds how many mailboxes the builder remembers as
// indexed up to some UID; past it the memory starts over.
const searchBuildKnown = 4096

// searchJob is one mailbox to index: its messages when it was selected.
type searchJob struct {
	user, mailbox string
	dir           string   // the index's directory (SearchIndexDir)
	uidValidity   uint32   // of the mailbox at SELECT
	uids          []uint32 // the view's, ascending
	searched      bool     // a search of it came while it was queued (claim)
}

// searchBuilder queues and runs the background builds of one Server.
type searchBuilder struct {
	store mailstore.Store
	log   *slog.Logger
	done  func()          // Config.JobDone, or nil
	ctx   context.Context // cancelled by stop
	halt  context.CancelFunc
	wg    sync.WaitGroup

	mu      sync.Mutex
	queue   []searchJob
	pending map[string]bool // dirs queued or being built
	current string          // the dir being built, "" between builds
	// searched says a search of current came since it began or while
	// it was queued (claim).
	searched bool
	indexed  map[string]uint32 // dir -> highest UID the last build left indexed
	running  bool
	// holds counts the searches keeping the build from running (hold);
	// resume wakes the build when it falls to 0, or at stop.
	holds  int
	resume sync.Cond
}

func newSearchBuilder(store mailstore.Store, log *slog.Logger, done func()) *searchBuilder {
	ctx, halt := context.WithCancel(context.Background())
	b := &searchBuilder{store: store, log: log, done: done, ctx: ctx, halt: halt,
		pending: map[string]bool{}, indexed: map[string]uint32{}}
	b.resume.L = &b.mu
	return b
}

// enqueue queues a build of the index of a mailbox just selected, whose
// view holds msgs, unless the mailbox is small, a build of it is pending,
// or fewer than searchBuildMin of its messages came after the newest the
// last build indexed. It only
// copies the view's UIDs. A nil builder (no index) does nothing.
func (b *searchBuilder) enqueue(user string, mbox mailstore.Mailbox, msgs *mailstore.MessageList) {
	if b == nil || msgs.Len() < searchBuildMin {
		return
	}
	home, ok := mbox.(mailstore.SearchIndexHome)
	if !ok {
		return
	}
	dir := home.SearchIndexDir()
	b.mu.Lock()
	defer b.mu.Unlock()
	// (Checked under mu: stop cancels under it, so no goroutine starts
	// after stop began waiting.)
	if b.ctx.Err() != nil || b.pending[dir] || len(b.queue) >= searchBuildQueue {
		return
	}
	if last, ok := b.indexed[dir]; ok {
		after, found := msgs.Find(last) // the first message newer than last
		if found {
			after++
		}
		if msgs.Len()-after < searchBuildMin {
			return
		}
	}
	uids := slices.AppendSeq(make([]uint32, 0, msgs.Len()), msgs.UIDs())
	job := searchJob{user: user, mailbox: mbox.Name(), dir: dir, uidValidity: mbox.UIDValidity(), uids: uids}
	b.pending[dir] = true
	b.queue = append(b.queue, job)
	if !b.running {
		b.running = true
		b.wg.Go(b.run)
	}
}

// building says whether a background build is running or queued. A nil
// builder builds nothing.
func (b *searchBuilder) building() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// claim is called by a search that finds the index in dir missing
// messages. It reports whether a background build has that index in
// hand, running or queued: the search then reads what is not indexed yet
// rather than index it a second time (indexing 100,000 messages while
// the client waited took 12.6 s in a bench/compare sitting, where reading
// them takes about 1). A build of it still queued moves to the front, so that
// the reading ends as soon as the build running now does. first says
// that no search of that index came before since its build was queued:
// the search may then check on every core (matchParallel).
func (b *searchBuilder) claim(dir string) (inHand, first bool) {
	if b == nil {
		return false, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.current == dir {
		first, b.searched = !b.searched, true
		return true, first
	}
	if !b.pending[dir] {
		return false, false
	}
	i := slices.IndexFunc(b.queue, func(j searchJob) bool { return j.dir == dir })
	if i < 0 {
		return false, false
	}
	job := b.queue[i]
	first, job.searched = !job.searched, true
	copy(b.queue[1:i+1], b.queue[:i])
	b.queue[0] = job
	return true, first
}

// run builds the queued indexes one after the other and ends when the
// queue is empty (or at stop). Its thread runs at the lowest priority and
// ends with the goroutine, which keeps it locked.
//
// When it read any message, it says so as it ends (Config.JobDone): a
// build reads and parses every message it indexes, and the garbage lets
// the heap grow to the collector's goal above everything live (the
// sessions' message lists of a large mailbox above all), which the
// runtime keeps for a while after the build though nothing uses it.
func (b *searchBuilder) run() {
	lowerThreadPriority(b.log)
	ib := searchindex.NewBuilderLimit(searchBuildEntries)
	built := 0
	for {
		b.mu.Lock()
		if len(b.queue) == 0 || b.ctx.Err() != nil {
			b.running = false
			b.queue = nil
			clear(b.pending)
			b.mu.Unlock()
			if built > 0 && b.done != nil {
				b.done()
			}
			return
		}
		job := b.queue[0]
		b.queue[0] = searchJob{} // its UIDs go with the build
		b.queue = b.queue[1:]
		b.current, b.searched = job.dir, job.searched
		b.mu.Unlock()

		n, indexed := b.build(job, ib)
		built += n

		b.mu.Lock()
		b.current, b.searched = "", false
		delete(b.pending, job.dir)
		if indexed {
			if len(b.indexed) >= searchBuildKnown {
				clear(b.indexed)
			}
			b.indexed[job.dir] = job.uids[len(job.uids)-1]
		}
		b.mu.Unlock()
	}
}

// build indexes the messages of job the index misses, through ib, and
// returns how many it read and whether the index then covers them all.
func (b *searchBuilder) build(job searchJob, ib *searchindex.Builder) (read int, complete bool) {
	log := b.log.With("user", job.user, "mailbox", job.mailbox)
	u, err := b.store.User(b.ctx, job.user)
	if err != nil {
		log.Info("search index build: user not opened", "err", err)
		return 0, false
	}
	defer u.Close()
	mbox, err := u.Mailbox(b.ctx, job.mailbox)
	if err != nil {
		log.Info("search index build: mailbox not opened", "err", err)
		return 0, false
	}
	defer mbox.Close()
	home, ok := mbox.(mailstore.SearchIndexHome)
	if !ok || home.SearchIndexDir() != job.dir || mbox.UIDValidity() != job.uidValidity {
		return 0, false // renamed, or made anew, since the SELECT
	}
	ix, err := searchindex.Open(job.dir, job.uidValidity, log)
	if err != nil {
		log.Warn("search index build: index unusable", "err", err)
		return 0, false
	}
	defer ix.Close()
	missing := ix.Missing(job.uids)
	if len(missing) == 0 {
		return 0, true
	}
	ib.Reset()
	skipped, err := indexMessages(b.ctx, mbox, ix, job.uids, missing, ib, log, b.yield)
	if err != nil {
		if b.ctx.Err() == nil {
			log.Warn("search index build: not finished", "err", err)
		}
		return len(missing), false
	}
	log.Debug("search index built in the background", "messages", len(missing)-len(skipped), "skipped", len(skipped))
	return len(missing), len(skipped) == 0
}

// hold keeps the build from reading another message until release is
// called, for a search that checks on every core: the build's goroutine
// would otherwise keep one of the runtime's processors (GOMAXPROCS)
// while its nice-19 thread waits for the CPU, and the search's
// goroutines would share the other one (in one process the first search
// of 100,000 messages took 932 and 1,060 ms with the hold, 1,060 and
// 2,022 without: docs/benchmarks.md). A nil builder holds nothing.
func (b *searchBuilder) hold() (release func()) {
	if b == nil {
		return func() {}
	}
	b.mu.Lock()
	b.holds++
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		b.holds--
		if b.holds == 0 {
			b.resume.Broadcast()
		}
		b.mu.Unlock()
	}
}

// yield is asked by the build between messages: it waits while a search
// holds the build (hold), then says whether to stop.
func (b *searchBuilder) yield() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.holds > 0 && b.ctx.Err() == nil {
		b.resume.Wait()
	}
	return b.ctx.Err()
}

// stop cancels the builds and waits for the running one to end.
func (b *searchBuilder) stop() {
	b.mu.Lock()
	b.halt()
	b.resume.Broadcast()
	b.mu.Unlock()
	b.wg.Wait()
}
