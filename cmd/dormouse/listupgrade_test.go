package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestListChunksUpgrade opens, with `dormouse serve`, an index as a
// version without the message list's chunks left it (mailstore/maildir
// listchunk.go): SELECT and FETCH read the records and answer as before;
// the first change writes the chunks, which the next start reads; a
// CHANGEDSINCE then finds that change alone.
func TestListChunksUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon three times")
	}
	const messages = 300 // more than one chunk (256 UIDs)
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	index := filepath.Join(data, "users", "alice", "index.db")

	d := startDaemon(t, data)
	c := dialIMAP(t, d.imap, nil)
	c.MustOK("LOGIN alice alice-pw")
	for i := range messages {
		c.Append("INBOX", fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))
	}
	c.MustOK("SELECT INBOX")
	var every7 []string
	for i := 1; i <= messages; i += 7 {
		every7 = append(every7, fmt.Sprint(i))
	}
	c.MustOK(`STORE ` + strings.Join(every7, ",") + ` +FLAGS (\Seen $Label1)`)
	want := fetchUIDFlags(t, c)
	c.Close()
	d.stop(syscall.SIGTERM)

	// What an older version leaves: no chunks and no stamp.
	chunks := func() (n int) {
		t.Helper()
		db, err := bolt.Open(index, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			boxes := tx.Bucket([]byte("boxes"))
			return boxes.ForEachBucket(func(k []byte) error {
				if b := boxes.Bucket(k).Bucket([]byte("ls")); b != nil {
					n += b.Stats().KeyN
				}
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := chunks(); n == 0 {
		t.Fatal("the index has no chunks of the message list")
	}
	db, err := bolt.Open(index, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		boxes := tx.Bucket([]byte("boxes"))
		return boxes.ForEachBucket(func(k []byte) error {
			b := boxes.Bucket(k)
			if b.Bucket([]byte("ls")) != nil {
				if err := b.DeleteBucket([]byte("ls")); err != nil {
					return err
				}
			}
			return b.Delete([]byte("lsstamp"))
		})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	d = startDaemon(t, data)
	c = dialIMAP(t, d.imap, nil)
	c.MustOK("LOGIN alice alice-pw")
	c.MustOK("ENABLE CONDSTORE")
	lines := c.MustOK("SELECT INBOX")
	if got := fetchUIDFlags(t, c); !slices.Equal(got, want) {
		t.Fatalf("FETCH from the old index:\n%q\nwant\n%q", got, want)
	}
	modseq := ""
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, "[HIGHESTMODSEQ "); ok {
			modseq, _, _ = strings.Cut(rest, "]")
		}
	}
	c.MustOK(`STORE 2 +FLAGS (\Flagged)`)          // the first change writes the chunks
	want[1] = `* 2 FETCH (UID 2 FLAGS (\Flagged))` // 2 had no flags
	c.Close()
	d.stop(syscall.SIGTERM)
	if n := chunks(); n < 2 {
		t.Fatalf("%d chunks after the first change, want 2", n)
	}

	d = startDaemon(t, data)
	c = dialIMAP(t, d.imap, nil)
	c.MustOK("LOGIN alice alice-pw")
	c.MustOK("SELECT INBOX")
	if got := fetchUIDFlags(t, c); !slices.Equal(got, want) {
		t.Fatalf("FETCH from the chunks:\n%q\nwant\n%q", got, want)
	}
	var changed []string
	for _, l := range c.MustOK("UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + modseq + ")") {
		if strings.Contains(l, " FETCH (") {
			changed = append(changed, l)
		}
	}
	if len(changed) != 1 || !strings.HasPrefix(changed[0], `* 2 FETCH (UID 2 FLAGS (\Flagged)`) {
		t.Fatalf("CHANGEDSINCE %s: %q", modseq, changed)
	}
	c.Close()
}

// fetchUIDFlags returns the FETCH (UID FLAGS) responses of every message of
// the selected mailbox, without \Recent (which only the first session
// sees).
func fetchUIDFlags(t *testing.T, c interface{ MustOK(string) []string }) []string {
	t.Helper()
	lines := c.MustOK("FETCH 1:* (UID FLAGS)")
	lines = lines[:len(lines)-1]
	for i, l := range lines {
		l = strings.ReplaceAll(l, ` \Recent`, "")
		lines[i] = strings.ReplaceAll(l, `\Recent`, "")
	}
	return lines
}
