//go:build !linux

package maildir

import (
	"os"
	"path/filepath"
)

// statDir Lstats the files of one folder by name.
type statDir struct{ dir string }

// openStatDir returns the statDir of dir.
func openStatDir(dir string) *statDir { return &statDir{dir: dir} }

// stat returns the facts of the file name in the folder.
func (d *statDir) stat(name string) fileFacts { return statFile(filepath.Join(d.dir, name)) }

// names returns the names in the folder.
func (d *statDir) names() ([]string, error) {
	f, err := os.Open(d.dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// dirMtime returns the modification time of the directory rel (a path
// below the folder), false when it is none.
func (d *statDir) dirMtime(rel string) (int64, bool) {
	fi, err := os.Stat(filepath.Join(d.dir, rel))
	if err != nil || !fi.IsDir() {
		return 0, false
	}
	return fi.ModTime().UnixNano(), true
}

// close does nothing here.
func (d *statDir) close() {}
