//go:build !unix

package maildir

import "errors"

// indexPages is unix only: elsewhere IndexStamp cannot be read, and
// callers open the index.
type indexPages struct{}

func openIndexPages(string) (indexPages, uint64, error) {
	return indexPages{}, 0, errors.New("index stamps are read on unix only")
}

func (indexPages) readAt([]byte, int64) error { return errors.New("unsupported") }

func (indexPages) close() {}
