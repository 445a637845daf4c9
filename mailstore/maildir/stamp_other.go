//go:build !linux

package maildir

import "errors"

// indexPages is read on Linux only: elsewhere IndexStamp cannot be read,
// and callers open the index.
type indexPages struct{}

func openIndexPages(string) (indexPages, uint64, error) {
	return indexPages{}, 0, errors.New("index stamps are read on Linux only")
}

func (indexPages) readAt([]byte, int64) error { return errors.New("unsupported") }

func (indexPages) close() {}
