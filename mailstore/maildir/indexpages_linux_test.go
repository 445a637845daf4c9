package maildir

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// mappedKiB returns the resident KiB of this process's mappings of path
// (/proc/self/smaps).
func mappedKiB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	kib, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-"):
			in = len(fields) >= 6 && fields[5] == path // a header: the path is missing for anonymous maps
		case in && len(fields) == 3 && fields[0] == "Rss:":
			n, _ := strconv.Atoi(fields[1])
			kib += n
		}
	}
	return kib
}

// TestFullRescanDropsIndexPages: a full rescan that read every record of
// a large mailbox leaves the index's pages unmapped, so that they are
// not counted as the server's memory (they stay in the page cache); and
// the index still reads right afterwards.
func TestFullRescanDropsIndexPages(t *testing.T) {
	s, root := testStore(t, Options{NoSync: true})
	u := testUser(t, s, "frank")
	m := testMailbox(t, u, "INBOX")
	ctx := context.Background()
	const n = dropPagesAfter + 2000
	for done := 0; done < n; done += 1000 {
		reqs := make([]mailstore.AppendRequest, 1000)
		for i := range reqs {
			reqs[i].Body = strings.NewReader(msg("x"))
		}
		if _, err := m.AppendMany(ctx, reqs); err != nil {
			t.Fatal(err)
		}
	}
	m.Close() // no watcher rescans beside this test's
	// The folder changed since its last full sync: the next one reads
	// every record.
	cur := filepath.Join(root, "users", "frank", "Maildir", "cur")
	if err := os.Chtimes(cur, time.Now(), time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	us := u.(*userHandle).u
	if _, err := us.syncMailbox("INBOX", true, nil, nil); err != nil {
		t.Fatal(err)
	}
	index := us.db.Path()
	fi, err := os.Stat(index)
	if err != nil {
		t.Fatal(err)
	}
	// A rescan the watcher queued may still be reading; it drops the
	// pages too when it is done.
	deadline := time.Now().Add(30 * time.Second)
	for kib := mappedKiB(t, index); kib*1024 > int(fi.Size())/4; kib = mappedKiB(t, index) {
		if time.Now().After(deadline) {
			t.Fatalf("%d KiB of the %d KiB index still mapped after the full rescan", kib, fi.Size()/1024)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := messageCount(t, testMailbox(t, u, "INBOX")); got != n {
		t.Fatalf("%d messages after the rescan, want %d", got, n)
	}
}

// TestOpenDropsIndexPages: reading many messages (as the background
// search-index build reads every one) leaves their records' index pages
// unmapped once dropPagesAfter of them were read, and the messages
// still read right.
func TestOpenDropsIndexPages(t *testing.T) {
	// (No watcher: its rescans of the appended files would drop the
	// pages too, at their own time.)
	s, _ := testStore(t, Options{NoSync: true, NoFolderWatch: true})
	u := testUser(t, s, "olga")
	m := testMailbox(t, u, "INBOX")
	ctx := context.Background()
	var uids []uint32
	for len(uids) < dropPagesAfter {
		reqs := make([]mailstore.AppendRequest, 1000)
		for i := range reqs {
			reqs[i].Body = strings.NewReader(msg("x"))
		}
		got, err := m.AppendMany(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, got...)
	}
	us := u.(*userHandle).u
	index := us.db.Path()
	us.dropIndexPages() // what the appends left
	read := func(uids []uint32) {
		for _, uid := range uids {
			c, err := m.Open(ctx, uid)
			if err != nil {
				t.Fatal(err)
			}
			if c.Size() != int64(len(msg("x"))) {
				t.Fatalf("UID %d: size %d", uid, c.Size())
			}
			c.Close()
		}
	}
	read(uids[:dropPagesAfter/2])
	half := mappedKiB(t, index)
	if half == 0 {
		t.Fatal("reading half the messages mapped no index page")
	}
	us.opened.Store(dropPagesAfter / 2) // (the appends may have opened some)
	read(uids[dropPagesAfter/2:])
	if kib := mappedKiB(t, index); kib >= half {
		t.Errorf("%d KiB of the index mapped after reading %d messages, %d KiB after half of them", kib, len(uids), half)
	}
}
