//go:build !linux

package maildir

import (
	"errors"
	"os"
	"path/filepath"
)

// indexPages is read on Linux only: elsewhere IndexStamp cannot be read,
// and callers open the index.
type indexPages struct{}

func openIndexPages(string) (indexPages, uint64, error) {
	return indexPages{}, 0, errors.New("index stamps are read on Linux only")
}

func (indexPages) readAt([]byte, int64) error { return errors.New("unsupported") }

func (indexPages) close() {}

// folderStat stats the folders of a Maildir by path (FolderStamp).
type folderStat struct{ dir string }

func newFolderStat(maildir *os.File) folderStat { return folderStat{maildir.Name()} }

func (f folderStat) mtime(folder, sub string) (int64, bool) {
	fi, err := os.Stat(filepath.Join(f.dir, folder, sub))
	if err != nil || !fi.IsDir() {
		return 0, false
	}
	return fi.ModTime().UnixNano(), true
}
