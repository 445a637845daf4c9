package main

import "golang.org/x/sys/unix"

// localRoot is where the client's Maildir goes: on a tmpfs when there is
// one, so that the client's file creation and the page cache's writeback
// of earlier pulls do not decide the wall time; the server is what is
// measured.
func localRoot(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err == nil && st.Type == unix.TMPFS_MAGIC {
		return "/dev/shm"
	}
	return dir
}
