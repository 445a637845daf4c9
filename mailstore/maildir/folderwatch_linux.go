package maildir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// inotifyMask asks for what fsnotify's Create, Write, Remove and Rename
// asked for on a folder's entries, which is what the diskWatcher acts on,
// and for the folder's own move, after which the watch no longer follows
// its path. IN_ONLYDIR: a mailbox folder that is a file is not watched.
const inotifyMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_DELETE | unix.IN_MODIFY | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// inotifyCreatesMask asks for entries created in a folder and nothing
// more: a Maildir's tmp/, where a file's writes would otherwise each be an
// event. IN_MASK_ADD: should the folder be watched already under another
// name, its watch keeps the events it had.
const inotifyCreatesMask = unix.IN_CREATE | unix.IN_ONLYDIR | unix.IN_MASK_ADD

// inotifyEntryOps are the events about a folder's entries.
const inotifyEntryOps = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_DELETE | unix.IN_MODIFY

// inotify is a folderWatcher on one inotify instance. It keeps nothing per
// watch: the kernel's descriptor is all the diskWatcher needs.
type inotify struct {
	*feed
	// file holds the non-blocking inotify descriptor, so that a read
	// waits in the Go netpoller without a thread and close ends it.
	file *os.File
	// raw reaches the descriptor for inotify_add_watch and rm_watch only
	// while file is open, so a closed (and reused) number is never used.
	raw syscall.RawConn

	// mu is held across each read(2) of the descriptor and the handing
	// over of what it returned, by the reader goroutine or by
	// readQueued: whoever holds it sees every event that is no longer in
	// the kernel's queue already handed over.
	mu  sync.Mutex
	buf []byte // one read's events
}

func newFolderWatcher() (folderWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	f := os.NewFile(uintptr(fd), "inotify")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("inotify descriptor: %w", err)
	}
	// One read returns as many whole events as fit: a burst in few reads,
	// and both halves of a rename together as a rule (opReadEnd).
	in := &inotify{feed: newFeed(), file: f, raw: raw, buf: make([]byte, 8192)}
	go in.read()
	return in, nil
}

func (in *inotify) add(path string) (int32, error) { return in.addMask(path, inotifyMask) }

func (in *inotify) addCreates(path string) (int32, error) {
	return in.addMask(path, inotifyCreatesMask)
}

func (in *inotify) addMask(path string, mask uint32) (int32, error) {
	var wd int
	var err error
	if cerr := in.raw.Control(func(fd uintptr) {
		wd, err = unix.InotifyAddWatch(int(fd), path, mask)
	}); cerr != nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("inotify watch %s: %w", path, err)
	}
	return int32(wd), nil
}

func (in *inotify) remove(wd int32) {
	_ = in.raw.Control(func(fd uintptr) {
		// EINVAL when the kernel dropped the watch already, with its
		// folder: nothing is left to remove.
		_, _ = unix.InotifyRmWatch(int(fd), uint32(wd))
	})
}

// close ends the reader: closing the file makes a pending read return
// os.ErrClosed.
func (in *inotify) close() error { return in.stop("inotify", in.file.Close) }

// errClosing ends a read of the kernel's queue: the watcher is closing.
var errClosing = errors.New("folder watch: closing")

// read turns what the kernel reports into folder events until close.
func (in *inotify) read() {
	defer in.finish()
	for {
		var err error
		// RawConn.Read waits in the netpoller while f reports an empty
		// queue (false), so that each read(2) runs under in.mu.
		rerr := in.raw.Read(func(fd uintptr) bool {
			in.mu.Lock()
			defer in.mu.Unlock()
			err = in.readOnceLocked(int(fd))
			return !errors.Is(err, unix.EAGAIN)
		})
		if rerr != nil {
			err = rerr
		}
		select {
		case <-in.quit:
			return // closed: the read failed for that
		default:
		}
		switch {
		case err == nil, errors.Is(err, unix.EINTR):
		case errors.Is(err, errClosing):
			return
		default:
			if !in.sendErr(fmt.Errorf("read inotify: %w", err)) {
				return
			}
		}
	}
}

// readQueued reads the kernel's queue until it is empty, handing the
// events over, so that every event queued before the call has been
// handed over when it returns: the kernel queues a folder's event within
// the system call that changed the folder.
func (in *inotify) readQueued() (sent uint64, ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	var err error
	if cerr := in.raw.Control(func(fd uintptr) {
		for err == nil || errors.Is(err, unix.EINTR) {
			err = in.readOnceLocked(int(fd))
		}
	}); cerr != nil {
		return 0, false // closed
	}
	if !errors.Is(err, unix.EAGAIN) {
		// Closing, or a read error the reader goroutine reports.
		return 0, false
	}
	return in.sent.Load(), true
}

// readOnceLocked does one read(2) of the kernel's queue (in.mu held) and
// hands its events over. unix.EAGAIN: the queue is empty; errClosing:
// the watcher is closing.
func (in *inotify) readOnceLocked(fd int) error {
	n, err := unix.Read(fd, in.buf)
	if err != nil {
		return err
	}
	if n == 0 {
		return unix.EAGAIN // not from inotify, but never loop on it
	}
	buf := in.buf[:n]
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		// struct inotify_event: wd, mask, cookie, len, name[len].
		wd := int32(binary.NativeEndian.Uint32(buf[off:]))
		mask := binary.NativeEndian.Uint32(buf[off+4:])
		nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
		start := off + unix.SizeofInotifyEvent
		off = start + nameLen
		if !in.handle(wd, mask, buf[start:min(off, n)]) {
			return errClosing
		}
	}
	if !in.endRead() {
		return errClosing
	}
	return nil
}

// handle passes on one kernel event; false when the watcher is closing.
func (in *inotify) handle(wd int32, mask uint32, name []byte) bool {
	switch {
	case mask&unix.IN_Q_OVERFLOW != 0:
		return in.sendErr(errEventOverflow)
	case mask&unix.IN_IGNORED != 0:
		return in.send(folderEvent{wd: wd, op: opWatchEnded})
	case mask&unix.IN_MOVE_SELF != 0:
		return in.send(folderEvent{wd: wd, op: opFolderMoved})
	case mask&inotifyEntryOps != 0:
		// The name is padded with NULs to an aligned length.
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		return in.send(folderEvent{wd: wd, op: opEntry, name: string(name)})
	}
	return true
}
