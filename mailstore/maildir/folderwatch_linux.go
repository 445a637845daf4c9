package maildir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
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
	feed
	// file holds the non-blocking inotify descriptor, so that a read
	// waits in the Go netpoller without a thread and close ends it.
	file *os.File
	// raw reaches the descriptor for inotify_add_watch and rm_watch only
	// while file is open, so a closed (and reused) number is never used.
	raw syscall.RawConn
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
	in := &inotify{feed: newFeed(), file: f, raw: raw}
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

// read turns what the kernel reports into folder events until close.
func (in *inotify) read() {
	defer in.finish()
	// One read returns as many whole events as fit: a burst in few reads,
	// and both halves of a rename together as a rule (opReadEnd).
	buf := make([]byte, 8192)
	for {
		n, err := in.file.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			if !in.sendErr(fmt.Errorf("read inotify: %w", err)) {
				return
			}
			continue
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			// struct inotify_event: wd, mask, cookie, len, name[len].
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			start := off + unix.SizeofInotifyEvent
			off = start + nameLen
			if !in.handle(wd, mask, buf[start:min(off, n)]) {
				return
			}
		}
		if !in.endRead() {
			return
		}
	}
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
