package maildir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestRescanBatches: the first rescan of a Maildir with more files than
// a batch gives them UIDs over several transactions (so that no one
// transaction holds every new record in memory), in name order, skipping
// what is not a message without stalling on it; the result is the one
// transaction would give.
func TestRescanBatches(t *testing.T) {
	const files = 11
	open := func(t *testing.T, batch int) (uint64, []string) {
		s, root := testStore(t, Options{rescanFiles: batch})
		cur := filepath.Join(root, "users", "alice", "Maildir", "cur")
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(filepath.Dir(cur), sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		for i := range files {
			name := fmt.Sprintf("%d.M1P1Q%d.host:2,S", 1_700_000_000+i, i)
			if err := os.WriteFile(filepath.Join(cur, name), []byte(msg(fmt.Sprintf("m%02d", i))), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		// Not messages, sorted among the first: skipped, not counted.
		for _, d := range []string{"1600000000.dir1:2,", "1600000001.dir2:2,", "1600000002.dir3:2,", "1600000003.dir4:2,", "1600000004.dir5:2,"} {
			if err := os.Mkdir(filepath.Join(cur, d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		mb := testMailbox(t, testUser(t, s, "alice"), "INBOX")
		snap, err := mb.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for i, m := range snap.Messages.Messages() {
			if m.UID != uint32(i+1) {
				t.Fatalf("batch %d: message %d has UID %d", batch, i, m.UID)
			}
			body := readAll(t, mb, m.UID)
			order = append(order, body[strings.Index(body, "Subject: ")+9:][:3])
		}
		var txID uint64
		if err := mb.(*mailboxHandle).u.db.View(func(tx *bolt.Tx) error { txID = uint64(tx.ID()); return nil }); err != nil {
			t.Fatal(err)
		}
		return txID, order
	}
	oneTx, want := open(t, 0)
	if len(want) != files {
		t.Fatalf("%d messages, want %d", len(want), files)
	}
	batchedTx, got := open(t, 4)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("batches of 4 gave UIDs to %v, one transaction to %v", got, want)
	}
	if batchedTx < oneTx+2 {
		t.Errorf("batches of 4: index at transaction %d, one batch at %d: want 2 more commits", batchedTx, oneTx)
	}
}
