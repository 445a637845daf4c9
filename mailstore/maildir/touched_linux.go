package maildir

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lastTouched is the latest of a file's mtime, atime and ctime.
func lastTouched(fi os.FileInfo) time.Time {
	t := fi.ModTime()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		for _, ts := range []syscall.Timespec{st.Atim, st.Ctim} {
			if u := time.Unix(ts.Unix()); u.After(t) {
				t = u
			}
		}
	}
	return t
}

// processGone reports whether no process has the given pid (signal 0
// checks without sending anything).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
