package maildir

import (
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
