package maildir

import (
	"errors"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Flag changes and expunges of one user share commits (group commit): a
// change that arrives while another of the user's changes is committing
// waits for that commit to end, then commits together with every change
// that queued meanwhile, in one transaction whose fdatasyncs they share.
// A lone change commits at once, as before; only changes that would have
// waited for bbolt's writer lock anyway are gathered, so none waits longer
// than it did. Appends and deliveries keep their own transactions: they
// announce early (early.go) and fsync message files inside theirs.
//
// bbolt's own DB.Batch does the same with a timer (MaxBatchDelay, 10 ms
// by default) that even a lone change waits for; measured against this
// queue in BenchmarkStoreFlagsConcurrent.

// commitQueue gathers the flag changes and expunges of one user.
type commitQueue struct {
	mu      sync.Mutex
	pending []*commitReq
	busy    bool // a goroutine is committing a batch
	// dirs lists the cur/ folders whose files the batch being committed
	// renamed or removed, and logged its last entry in the name log
	// (logName), to be fsynced after the commit (namelog.go). Only the
	// committing goroutine uses them.
	dirs   []string
	logged uint64
	// cache holds cache writes that the next commit carries
	// (cachewrite.go).
	cache cacheWrites
}

// commitReq is one change waiting in the queue.
type commitReq struct {
	fn func(*bolt.Tx) error
	// undo puts back what fn did outside the index (renamed files) when
	// its transaction does not commit; it may be nil. After a change that
	// failed it runs inside the transaction, before the rollback lets go
	// of bbolt's writer lock (commitUndoing).
	undo func()
	err  error
	// wake carries true to the goroutine that is to commit the next batch
	// and false to one whose change a batch committed (err says how).
	wake chan bool
}

// updateGrouped runs fn in a write transaction shared with the other
// changes queued meanwhile, and returns fn's error or the commit's. fn
// may run more than once (again alone, in a transaction of its own, when
// another change of its batch failed); undo, if not nil, is called after
// each run whose transaction did not commit, and must not open a
// transaction: it may run inside the one that failed.
func (u *userState) updateGrouped(fn func(*bolt.Tx) error, undo func()) error {
	q := &u.commits
	r := &commitReq{fn: fn, undo: undo, wake: make(chan bool, 1)}
	q.mu.Lock()
	q.pending = append(q.pending, r)
	if q.busy {
		q.mu.Unlock()
		if lead := <-r.wake; !lead {
			return r.err
		}
		q.mu.Lock()
	}
	q.busy = true
	batch := q.pending
	q.pending = nil
	q.mu.Unlock()

	u.commitBatch(batch)

	q.mu.Lock()
	if len(q.pending) > 0 {
		// The next batch is committed by one of its own goroutines, so
		// this one's caller hears its answer now.
		q.pending[0].wake <- true
	} else {
		q.busy = false
	}
	q.mu.Unlock()
	for _, o := range batch {
		if o != r {
			o.wake <- false
		}
	}
	return r.err
}

// errBatchMember ends a batch's transaction when one of its changes
// failed; the others are then committed one by one.
var errBatchMember = errors.New("a change of the batch failed")

// commitBatch commits batch in one transaction and sets each request's
// err. When a change fails, the transaction is rolled back, every change
// that ran is undone, and each is run again alone, so that one change's
// failure is never another's.
func (u *userState) commitBatch(batch []*commitReq) {
	if len(batch) == 1 {
		u.commitAlone(batch[0])
		return
	}
	failed, err := u.commitUndoing(batch)
	if err == nil || !failed {
		// Committed, or the commit itself failed (a full disk, a
		// damaged index): it would fail alike for each change alone.
		for _, r := range batch {
			r.err = err
		}
		return
	}
	for _, r := range batch {
		u.commitAlone(r)
	}
}

// commitAlone commits one change in a transaction of its own.
func (u *userState) commitAlone(r *commitReq) {
	_, r.err = u.commitUndoing([]*commitReq{r})
}

// commitUndoing commits reqs' changes in one transaction. When one of them
// fails (failed), what the changes that ran did outside the index is put
// back inside the transaction, while it still holds bbolt's writer lock:
// the watcher's sync waits for that lock, and would otherwise find the
// files as the rolled-back changes left them, record the new names in
// the index as renames by another program, and then have the index name
// files the undo took away (a FETCH failing with "file vanished"), or a
// change run again find its flags already set and rename nothing. When
// the commit itself fails, bbolt lets go of the lock before it returns,
// so the changes are undone after it; the undo's own file events then
// bring the index back to the disk.
func (u *userState) commitUndoing(reqs []*commitReq) (failed bool, err error) {
	err = u.commitFlags(func(tx *bolt.Tx) error {
		for i, r := range reqs {
			if err := r.fn(tx); err != nil {
				failed = true
				u.undoAll(reqs[:i+1])
				if len(reqs) > 1 {
					return errBatchMember
				}
				return err
			}
		}
		return nil
	})
	if err != nil && !failed {
		u.undoAll(reqs)
	}
	return failed, err
}

// undoAll undoes the changes of reqs, the last first.
func (u *userState) undoAll(reqs []*commitReq) {
	if f := u.s.opts.beforeUndo; f != nil {
		f()
	}
	for i := len(reqs) - 1; i >= 0; i-- {
		if f := reqs[i].undo; f != nil {
			f()
		}
	}
}

// commitFlags runs fn, flag changes and expunges, in a write transaction
// and commits it: durably, or without fdatasync under delayed flag sync
// (flagsync.go). The renames and removals of message files fn logged
// (logName) are in the same commit; their folders are fsynced later, in
// the background (namelog.go). The transaction first writes the cache
// writes waiting (cachewrite.go), and last deletes the name log's entries
// whose folders were fsynced since.
//
// A transaction in which nothing was written (a STORE of flags the
// messages had, an EXPUNGE with nothing to expunge) is rolled back: no
// commit, no fdatasync. Nothing is lost by it, even at "always": the
// state fn read is durable, since it holds bbolt's writer lock and every
// commit before it synced before letting go of it.
func (u *userState) commitFlags(fn func(*bolt.Tx) error) error {
	q := &u.commits
	cache := q.takeCacheWrites()
	run := func(tx *bolt.Tx) error {
		q.dirs, q.logged = q.dirs[:0], 0
		u.runCacheWrites(tx, cache)
		if err := fn(tx); err != nil {
			return err
		}
		// bbolt makes a node of a page only to change it.
		if st := tx.Stats(); st.GetNodeCount() == 0 {
			return errRollback
		}
		return u.pruneNameLog(tx)
	}
	var err error
	if u.s.opts.FlagSyncDelay > 0 {
		err = u.updateDelayed(run)
	} else {
		err = u.update(run)
	}
	switch {
	case errors.Is(err, errRollback):
		return nil
	case err == nil:
		u.namesCommitted(slices.Clone(q.dirs), q.logged)
	}
	return err
}
