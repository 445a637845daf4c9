package maildir

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// dropIndexPages unmaps from this process the pages of the user's index
// it has read, after a full rescan walked every record of a large
// mailbox: bbolt reads the index through a shared read-only map, so the
// walk left some 200 bytes a message mapped (200 MiB of Pss for a
// million messages) that nothing reads again. The pages stay in the page
// cache, and a later read maps them again from there; MADV_DONTNEED on a
// shared file mapping discards no data. The read transaction keeps bbolt
// from remapping meanwhile, and the advice covers the map exactly as the
// kernel lists it (the file may have grown past it).
func (u *userState) dropIndexPages() {
	err := u.db.View(func(tx *bolt.Tx) error {
		start := tx.DB().Info().Data
		end, err := mappingEnd(start)
		if err != nil {
			return err
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED); errno != 0 {
			return errno
		}
		return nil
	})
	if err != nil {
		u.s.log.Debug("drop index pages", "user", u.name, "err", err)
	}
}

// noteOpened counts a record read by Open, and drops the index pages
// every dropPagesAfter of them: a reader of many messages (the
// background search-index build reads every one; a client fetching a
// large mailbox's bodies) touches each one's record, and so would keep
// all of the records' pages mapped, some 200 bytes a message (14 MiB of
// the server's Pss at 100,000 messages while the build ran, on the
// bench/compare "1 session" row), where a session needs none of them.
func (u *userState) noteOpened() {
	if u.opened.Add(1)%dropPagesAfter == 0 {
		u.dropIndexPages()
	}
}

// mappingEnd returns the end of this process's mapping that begins at
// start (/proc/self/maps).
func mappingEnd(start uintptr) (uintptr, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	prefix := strconv.FormatUint(uint64(start), 16) + "-"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		hi, _, _ := strings.Cut(line[len(prefix):], " ")
		end, err := strconv.ParseUint(hi, 16, 64)
		if err != nil || uintptr(end) <= start {
			return 0, fmt.Errorf("mapping at %x: %q", start, line)
		}
		return uintptr(end), nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no mapping at %x", start)
}
