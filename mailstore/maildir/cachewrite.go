package maildir

import (
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Cache writes (the envelope headers a FETCH or SEARCH read from message
// files) are not waited for: the command that read them answers at once,
// and the blocks are written by the user's next flag change or expunge,
// in its transaction (group commit), or by a commit of their own
// cacheWriteDelay later when none comes. Before, such a FETCH waited for a
// commit of its own, with both of bbolt's fdatasyncs: the slowest FETCHes
// of a busy mailbox. A cache need not last: a crash before the write
// costs a read of the files again. Above cacheWriteMax bytes waiting, the
// write is committed before the command answers, as before, so that
// memory stays bounded.

// cacheWriteDelay is how long a cache write waits for a flag commit to
// join before it commits alone. It is shorter than indexLinger, so that
// the writes of a session that reads and logs out are committed before
// its index closes (closing drops what still waits).
const cacheWriteDelay = indexLinger / 2

// cacheWriteMax bounds the bytes of cache writes waiting per user.
const cacheWriteMax = 1 << 20

// cacheWrites holds one user's cache writes waiting for a commit.
type cacheWrites struct {
	fns     []func(*bolt.Tx) error
	bytes   int
	timer   *time.Timer // commits them alone; nil when none is set
	stopped bool        // the index closed: they are dropped
}

// deferCacheWrite queues fn (writing size bytes) for the user's next flag
// commit. It reports false when the queue is full, and the caller then
// commits fn itself.
func (u *userState) deferCacheWrite(fn func(*bolt.Tx) error, size int) bool {
	q := &u.commits
	q.mu.Lock()
	defer q.mu.Unlock()
	c := &q.cache
	if c.stopped || c.bytes+size > cacheWriteMax {
		return false
	}
	c.fns = append(c.fns, fn)
	c.bytes += size
	if c.timer == nil {
		c.timer = time.AfterFunc(cacheWriteDelay, u.flushCacheWrites)
	}
	return true
}

// takeCacheWrites returns the cache writes waiting, for the commit under
// way to run.
func (q *commitQueue) takeCacheWrites() []func(*bolt.Tx) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := &q.cache
	fns := c.fns
	c.fns, c.bytes = nil, 0
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	return fns
}

// runCacheWrites runs the cache writes a flag commit took. A write that
// fails is dropped (logged), not the commit: the cache is read again
// next time.
func (u *userState) runCacheWrites(tx *bolt.Tx, fns []func(*bolt.Tx) error) {
	for _, fn := range fns {
		if err := fn(tx); err != nil {
			u.s.log.Warn("keep cached fields", "user", u.name, "err", err)
		}
	}
}

// flushCacheWrites commits the cache writes waiting, when no flag commit
// came to carry them.
func (u *userState) flushCacheWrites() {
	err := u.updateGrouped(func(*bolt.Tx) error { return nil }, nil)
	if err != nil && !errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		u.s.log.Warn("keep cached fields", "user", u.name, "err", err)
	}
}

// stopCacheWrites drops the cache writes of an index that closes.
func (u *userState) stopCacheWrites() {
	q := &u.commits
	q.mu.Lock()
	defer q.mu.Unlock()
	c := &q.cache
	c.stopped = true
	c.fns, c.bytes = nil, 0
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}
