package maildir

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// folderWatcher is the operating system's notice of changes in folders,
// as the diskWatcher uses it: each folder added gets a watch descriptor,
// and events name the descriptor and the entry, not the folder's path, so
// the diskWatcher need not keep a path per watch. Adding a folder that is
// already watched returns its descriptor again. On Linux it is inotify
// itself (folderwatch_linux.go); elsewhere fsnotify stands behind it.
type folderWatcher interface {
	// add watches a folder for entries created, written, moved in or out
	// and removed.
	add(path string) (wd int32, err error)
	// addCreates watches a folder for entries created in it, and for
	// nothing else. Where that cannot be asked for it fails with
	// errCreatesOnly and the folder is not watched.
	addCreates(path string) (wd int32, err error)
	// remove ends a watch; a watch the kernel already dropped is no error.
	remove(wd int32)
	// events delivers folder events. It is closed when the watcher is.
	events() <-chan folderEvent
	// errors delivers errors the reader met: errEventOverflow when events
	// were lost. It is closed when the watcher is.
	errors() <-chan error
	// close ends every watch and the reader.
	close() error
	// readQueued hands every event the system had queued before the call
	// over to events() before it returns, and returns how many events
	// have been handed over in all (opReadEnd marks included). ok is
	// false where that cannot be known (fsnotify reads the system's
	// queue on its own goroutine): an event may then still be on its way.
	readQueued() (sent uint64, ok bool)
}

// folderOp says what a folderEvent reports.
type folderOp uint8

const (
	// opEntry: an entry of the folder was created, written, moved in or
	// out, or removed; folderEvent.name names it.
	opEntry folderOp = iota
	// opFolderMoved: the watched folder itself was moved, so the watch no
	// longer follows the path it was added for.
	opFolderMoved
	// opWatchEnded: the watch is gone (the folder was removed, or the
	// watch was), and its descriptor no longer names it.
	opWatchEnded
	// opReadEnd: the events of one read of the kernel's queue end here
	// (with fsnotify, which hands events over one by one: after each).
	// Both halves of a rename usually come in one read, so a reader of
	// events that waits for this mark has them both; not always: the
	// kernel queues them one after the other (fsnotify_move: moved-from,
	// then moved-to) and wakes the reader at the first, so a read can
	// fall between them. A half seen alone is resolved on disk
	// (syncNames looks the message up by its base name).
	opReadEnd
)

// folderEvent is one change in a watched folder.
type folderEvent struct {
	wd   int32
	op   folderOp
	name string // the entry, for opEntry
}

// errCreatesOnly says that a folderWatcher cannot watch for creations
// alone (fsnotify reports every write too).
var errCreatesOnly = errors.New("folder watch: no watch for creations alone here")

// errEventOverflow reports that the kernel's event queue overflowed and
// events were lost.
var errEventOverflow = errors.New("folder watch: event queue overflow")

// feed carries a folderWatcher's events from its reader goroutine, and
// ends that goroutine. Both folderWatchers embed one.
type feed struct {
	evs  chan folderEvent
	errs chan error
	quit chan struct{} // closed by stop: the reader stops sending
	done chan struct{} // closed when the reader has returned
	// sent counts the events handed over on evs (readQueued).
	sent atomic.Uint64
}

// feedBuffer is how many events the reader holds for the diskWatcher
// beyond the kernel's queue (max_queued_events, 16,384 by default), so
// that the queue keeps draining while the diskWatcher applies a batch or
// waits for the index's write lock. A STORE \Deleted of 10,000 messages
// renames their files (20,000 events) and their EXPUNGE removes them
// (10,000 more): with 4,096 here the kernel's queue overflowed, and the
// full rescan that an overflow asks for held the write lock of a
// 1,000,000-message mailbox for over two seconds, in the middle of the
// next command. The buffer's pages are touched only when used (about
// 2 MiB when full).
const feedBuffer = 1 << 16

func newFeed() *feed {
	return &feed{
		evs:  make(chan folderEvent, feedBuffer),
		errs: make(chan error),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
}

func (f *feed) events() <-chan folderEvent { return f.evs }

func (f *feed) errors() <-chan error { return f.errs }

// send hands an event over; false when the watcher is closing.
func (f *feed) send(ev folderEvent) bool {
	if !handOver(f.evs, ev, f.quit) {
		return false
	}
	f.sent.Add(1)
	return true
}

// endRead marks the end of one read's events (opReadEnd); false when the
// watcher is closing.
func (f *feed) endRead() bool { return f.send(folderEvent{op: opReadEnd}) }

// sendErr hands an error over; false when the watcher is closing.
func (f *feed) sendErr(err error) bool { return handOver(f.errs, err, f.quit) }

// handOver sends v on ch unless quit closes first; false then.
func handOver[T any](ch chan<- T, v T, quit <-chan struct{}) bool {
	select {
	case ch <- v:
		return true
	case <-quit:
		return false
	}
}

// finish is deferred by the reader goroutine: its channels close with it.
func (f *feed) finish() {
	close(f.evs)
	close(f.errs)
	close(f.done)
}

// stop ends the reader goroutine: closeSource, the close of what it
// reads, makes its pending read return. It returns closeSource's error,
// naming the source, once the reader has returned.
func (f *feed) stop(source string, closeSource func() error) error {
	close(f.quit)
	err := closeSource()
	<-f.done
	if err != nil {
		return fmt.Errorf("close %s: %w", source, err)
	}
	return nil
}
