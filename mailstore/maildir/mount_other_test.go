//go:build !linux

package maildir

import "testing"

// mountTmpfs skips the test: its tmpfs mount is Linux's.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	t.Skip("mounting a tmpfs needs Linux")
}
