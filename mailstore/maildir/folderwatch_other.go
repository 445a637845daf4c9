//go:build !linux

package maildir

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// fsnotifyWatcher is the folderWatcher where there is no inotify: it
// numbers the folders it hands to fsnotify and turns fsnotify's path
// events into descriptor events. Only Linux serves many hibernated users,
// so its paths per watch cost nothing that matters.
type fsnotifyWatcher struct {
	*feed
	fw *fsnotify.Watcher

	mu     sync.Mutex
	byPath map[string]int32
	byWd   map[int32]string
	last   int32 // the last descriptor given out
}

func newFolderWatcher() (folderWatcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("fsnotify: %w", err)
	}
	f := &fsnotifyWatcher{
		feed:   newFeed(),
		fw:     fw,
		byPath: map[string]int32{},
		byWd:   map[int32]string{},
	}
	go f.run()
	return f, nil
}

func (f *fsnotifyWatcher) add(path string) (int32, error) {
	path = filepath.Clean(path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if wd, ok := f.byPath[path]; ok {
		return wd, nil // as inotify answers a second add of one folder
	}
	if err := f.fw.Add(path); err != nil {
		return 0, fmt.Errorf("fsnotify watch %s: %w", path, err)
	}
	f.last++
	f.byPath[path] = f.last
	f.byWd[f.last] = path
	return f.last, nil
}

// addCreates is not offered: fsnotify would report every write into the
// folder as well, and the creations are only a hint (diskWatcher.warm).
func (f *fsnotifyWatcher) addCreates(string) (int32, error) { return 0, errCreatesOnly }

func (f *fsnotifyWatcher) remove(wd int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if path, ok := f.byWd[wd]; ok {
		delete(f.byWd, wd)
		delete(f.byPath, path)
		_ = f.fw.Remove(path) // fails harmlessly when the folder is gone
	}
}

func (f *fsnotifyWatcher) close() error { return f.stop("fsnotify", f.fw.Close) }

// readQueued cannot say: fsnotify reads the system's queue on a goroutine
// of its own, so an event may be there and not yet handed over.
func (f *fsnotifyWatcher) readQueued() (uint64, bool) { return 0, false }

// run passes fsnotify's events and errors on until close.
func (f *fsnotifyWatcher) run() {
	defer f.finish()
	for {
		select {
		case <-f.quit:
			return
		case ev, ok := <-f.fw.Events:
			if !ok {
				return
			}
			if fe, ok := f.translate(ev); ok && (!f.send(fe) || !f.endRead()) {
				return
			}
		case err, ok := <-f.fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				err = errEventOverflow
			}
			if !f.sendErr(err) {
				return
			}
		}
	}
}

// translate names an fsnotify event by descriptor; false when it is of no
// watched folder or of no interest.
func (f *fsnotifyWatcher) translate(ev fsnotify.Event) (folderEvent, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if wd, ok := f.byPath[ev.Name]; ok && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		// The watched folder itself went away, and fsnotify with it.
		delete(f.byWd, wd)
		delete(f.byPath, ev.Name)
		return folderEvent{wd: wd, op: opWatchEnded}, true
	}
	if ev.Op&(fsnotify.Create|fsnotify.Rename|fsnotify.Remove|fsnotify.Write) == 0 {
		return folderEvent{}, false
	}
	dir, name := filepath.Split(ev.Name)
	wd, ok := f.byPath[filepath.Clean(dir)]
	if !ok {
		return folderEvent{}, false
	}
	return folderEvent{wd: wd, op: opEntry, name: name}, true
}
