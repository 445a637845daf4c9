// Package spool gives each dormouse process a folder of its own under the
// data folder's spool/, for large APPEND literals and LMTP messages in
// transit, and removes what processes that are gone left there.
//
// A process's folder is held with flock(2) for as long as the process
// runs: the lock ends with the process, however it ends (SIGKILL, a
// crash), so a folder nobody holds belongs to no live process and all of
// it can go. Two processes may share the spool (an upgrade starts the new
// one beside the old): neither removes what the other is writing.
package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Names in the spool: a process's folder is "proc-*", created as
// ".new-proc-*" and renamed once locked, so that a cleaner never sees a
// folder between its creation and its lock.
const (
	procPrefix = "proc-"
	newPrefix  = ".new-"
)

// LegacyAge is how long a file left directly in the spool by an older
// version (dormouse-literal-*, lmtp-*.eml), or a folder a process died
// creating, stays untouched before Clean removes it: no live writer leaves
// its file untouched that long (a literal is read within the command
// timeout, 10 minutes by default).
const LegacyAge = time.Hour

// Dir is this process's spool folder, locked while it is open.
type Dir struct {
	path string
	lock *os.File
}

// Open creates root if needed and a locked folder of this process in it.
func Open(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	tmp, err := os.MkdirTemp(root, newPrefix+procPrefix)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := os.Open(tmp)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != nil {
			lock.Close()
		}
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("spool: lock %s: %w", tmp, err)
	}
	path := filepath.Join(root, strings.TrimPrefix(filepath.Base(tmp), newPrefix))
	if err := os.Rename(tmp, path); err != nil {
		lock.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &Dir{path: path, lock: lock}, nil
}

// Path is the folder to spool into.
func (d *Dir) Path() string { return d.path }

// Close removes the folder with what is left in it and ends the lock.
func (d *Dir) Close() error {
	err := os.RemoveAll(d.path)
	if cerr := d.lock.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Clean removes from root what no live process uses: the folder of every
// process that no longer holds its lock, with its files; and, once
// untouched for LegacyAge before now, a folder a process died creating and
// the files older versions spooled directly into root. Other names are
// left alone. It returns how many entries it removed and the first error.
func Clean(root string, now time.Time) (removed int, err error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("spool: %w", err)
	}
	keep := func(e error) {
		if err == nil && e != nil && !errors.Is(e, os.ErrNotExist) {
			err = fmt.Errorf("spool: %w", e)
		}
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(root, name)
		switch {
		case e.IsDir() && strings.HasPrefix(name, procPrefix):
			gone, lerr := removeUnlocked(path)
			keep(lerr)
			if gone {
				removed++
			}
		case e.IsDir() && strings.HasPrefix(name, newPrefix+procPrefix),
			e.Type().IsRegular() && (strings.HasPrefix(name, "dormouse-literal-") || strings.HasPrefix(name, "lmtp-")):
			fi, ierr := e.Info()
			if ierr != nil {
				keep(ierr)
				continue
			}
			if now.Sub(fi.ModTime()) < LegacyAge {
				continue
			}
			if e.IsDir() {
				// Never renamed: its process died before it was used.
				// Its lock says whether it is still starting.
				gone, lerr := removeUnlocked(path)
				keep(lerr)
				if gone {
					removed++
				}
				continue
			}
			rerr := os.Remove(path)
			keep(rerr)
			if rerr == nil {
				removed++
			}
		}
	}
	return removed, err
}

// removeUnlocked removes the folder at path with its contents when no
// process holds its lock; gone reports that it did.
func removeUnlocked(path string) (gone bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return false, nil // its process is alive
		}
		return false, err
	}
	// Held now by this process: its owner is gone and no one else can
	// take it over (owners only ever lock the folder they created).
	if err := os.RemoveAll(path); err != nil {
		return false, err
	}
	return true, nil
}
