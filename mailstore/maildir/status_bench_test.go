package maildir

import (
	"context"
	"testing"
	"time"
)

// BenchmarkStatusWatched reads the STATUS of a mailbox that is watched
// and synced, with nothing on its way through the watcher: the read's
// cost beside the index's (settle's empty read of the inotify queue, on
// Linux).
//
//	go test -run '^$' -bench 'StatusWatched' ./mailstore/maildir/
func BenchmarkStatusWatched(b *testing.B) {
	s, _ := testStore(b, Options{})
	u := testUser(b, s, "bench")
	m := testMailbox(b, u, "INBOX") // holds the watch
	for range 100 {
		mustAppend(b, m, msg("x"))
	}
	k := boxKey{"bench", "INBOX"}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if ok, _ := s.w.synced(k); ok {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("INBOX not watched and synced")
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := u.Status(ctx, "INBOX"); err != nil {
			b.Fatal(err)
		}
	}
}
