package maildir

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// indexPages reads an index file without the os.File machinery (no
// poller registration, no finalizer): a stamp is read for every
// keepalive answer of a sleeping connection.
type indexPages struct{ fd int }

// openIndexPages opens path for reading and returns its inode.
func openIndexPages(path string) (indexPages, uint64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return indexPages{}, 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return indexPages{}, 0, err
	}
	return indexPages{fd}, st.Ino, nil
}

// readAt fills b from offset off.
func (r indexPages) readAt(b []byte, off int64) error {
	n, err := unix.Pread(r.fd, b, off)
	if err == nil && n < len(b) {
		err = syscall.EIO
	}
	return err
}

func (r indexPages) close() { unix.Close(r.fd) }

// folderStat stats the folders of a Maildir relative to its open
// directory (FolderStamp): no path joined, no FileInfo made.
type folderStat struct{ dir int }

func newFolderStat(maildir *os.File) folderStat { return folderStat{int(maildir.Fd())} }

// mtime returns the modification time of folder/sub ("" for the
// Maildir's own sub), which must be a directory.
func (f folderStat) mtime(folder, sub string) (int64, bool) {
	path := sub
	if folder != "" {
		path = folder + "/" + sub
	}
	var st unix.Stat_t
	if unix.Fstatat(f.dir, path, &st, 0) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, false
	}
	return st.Mtim.Nano(), true
}
