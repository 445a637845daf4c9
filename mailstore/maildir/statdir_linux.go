package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// statDir Lstats the files of one folder by name, relative to the
// folder's open descriptor (fstatat): no path to build and no path walk
// from the root for each of a large folder's files.
type statDir struct {
	dir string
	f   *os.File // nil when the folder could not be opened
	fd  int      // f's descriptor
}

// openStatDir opens dir for stat; when it cannot, stat falls back to
// Lstat of the whole path (which then fails or not as it will).
func openStatDir(dir string) *statDir {
	f, err := os.Open(dir)
	if err != nil {
		return &statDir{dir: dir}
	}
	return &statDir{dir: dir, f: f, fd: int(f.Fd())}
}

// stat returns the facts of the file name in the folder.
func (d *statDir) stat(name string) fileFacts {
	if d.f == nil {
		return statFile(filepath.Join(d.dir, name))
	}
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	for errors.Is(err, unix.EINTR) {
		err = unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileFacts{}
	}
	return fileFacts{regular: true, size: st.Size, mtime: st.Mtim.Nano()}
}

// names returns the names in the folder.
func (d *statDir) names() ([]string, error) {
	if d.f == nil {
		return nil, fmt.Errorf("read %s: cannot open it", d.dir)
	}
	return d.f.Readdirnames(-1)
}

// dirMtime returns the modification time of the directory rel (a path
// below the folder, following symbolic links), false when it is none.
func (d *statDir) dirMtime(rel string) (int64, bool) {
	if d.f == nil {
		return 0, false
	}
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, rel, &st, 0)
	for errors.Is(err, unix.EINTR) {
		err = unix.Fstatat(d.fd, rel, &st, 0)
	}
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, false
	}
	return st.Mtim.Nano(), true
}

// close closes the folder's descriptor.
func (d *statDir) close() {
	if d.f != nil {
		d.f.Close()
	}
}
