//go:build !linux

package maildir

// dropIndexPages does nothing where the pages are not dropped.
func (u *userState) dropIndexPages() {}

// noteOpened does nothing where the pages are not dropped.
func (u *userState) noteOpened() {}
