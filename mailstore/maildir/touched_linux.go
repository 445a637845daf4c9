package maildir

import (
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
