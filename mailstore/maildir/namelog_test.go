package maildir

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// fileOf returns the name in cur/ the index has for uid.
func fileOf(t *testing.T, mb mailstore.Mailbox, uid uint32) string {
	t.Helper()
	var name string
	err := mb.(*mailboxHandle).view(func(m *mboxTx) error {
		r, ok, err := m.get(uid, true)
		if err == nil && !ok {
			t.Fatalf("UID %d not in the index", uid)
		}
		name = r.file
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// nameLogOf lists the name log of the user behind mb: "old>new" per entry.
func nameLogOf(t *testing.T, mb mailstore.Mailbox) []string {
	t.Helper()
	var out []string
	err := mb.(*mailboxHandle).u.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktNameLog)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			_, old, new, err := decodeNameLog(v)
			out = append(out, old+">"+new)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNameLogReplay: under flag_sync always a STORE that renamed a file
// and an EXPUNGE that removed one are acknowledged before cur/ is
// fsynced, so a power loss may undo the renames and bring the removed
// file back. The index opened after it replays its name log: the
// acknowledged flags, the expunge and the UIDVALIDITY are all kept,
// whichever of the renames the disk kept. Without the replay the rescan
// takes the old names for changes made on disk (\Seen undone, the
// expunged message back under a new UID).
func TestNameLogReplay(t *testing.T) {
	ctx := context.Background()
	s, root := testStore(t, Options{nameSyncDelay: time.Hour})
	mb := testMailbox(t, testUser(t, s, "alice"), "INBOX")
	for _, subj := range []string{"seen", "expunged", "chain"} {
		mustAppend(t, mb, msg(subj))
	}
	store := func(uid uint32, op mailstore.StoreOp, flag string) {
		t.Helper()
		if _, _, err := mb.StoreFlags(ctx, []uint32{uid}, op, []string{flag}, 0); err != nil {
			t.Fatal(err)
		}
	}
	seenFrom := fileOf(t, mb, 1)
	store(1, mailstore.FlagsAdd, `\Seen`)
	expunged := fileOf(t, mb, 2)
	expungedBody, err := os.ReadFile(filepath.Join(root, "users", "alice", "Maildir", "cur", expunged))
	if err != nil {
		t.Fatal(err)
	}
	store(2, mailstore.FlagsAdd, `\Deleted`)
	expungedDeleted := fileOf(t, mb, 2)
	if _, err := mb.Expunge(ctx, []uint32{2}); err != nil {
		t.Fatal(err)
	}
	var chain []string // the names of UID 3, first to last
	chain = append(chain, fileOf(t, mb, 3))
	for _, c := range []struct {
		op   mailstore.StoreOp
		flag string
	}{{mailstore.FlagsAdd, `\Seen`}, {mailstore.FlagsAdd, `\Flagged`}, {mailstore.FlagsRemove, `\Seen`}} {
		store(3, c.op, c.flag)
		chain = append(chain, fileOf(t, mb, 3))
	}
	if log := nameLogOf(t, mb); len(log) != 6 {
		t.Fatalf("name log %q, want the 6 renames and removals", log)
	}
	uidValidity := mb.UIDValidity()

	for _, c := range []struct {
		name string
		lose func(t *testing.T, cur string) // what the power loss undid
	}{
		{"nothing lost", func(*testing.T, string) {}},
		{"every rename lost", func(t *testing.T, cur string) {
			mustRename(t, cur, fileOf(t, mb, 1), seenFrom)
			if err := os.WriteFile(filepath.Join(cur, expunged), expungedBody, 0o600); err != nil {
				t.Fatal(err)
			}
			mustRename(t, cur, chain[len(chain)-1], chain[0])
		}},
		{"some renames kept", func(t *testing.T, cur string) {
			if err := os.WriteFile(filepath.Join(cur, expungedDeleted), expungedBody, 0o600); err != nil {
				t.Fatal(err)
			}
			mustRename(t, cur, chain[len(chain)-1], chain[1])
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root2 := copyUser(t, root, "alice")
			cur := filepath.Join(root2, "users", "alice", "Maildir", "cur")
			c.lose(t, cur)
			s2, err := Open(root2, Options{Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			m2 := testMailbox(t, testUser(t, s2, "alice"), "INBOX")
			if m2.UIDValidity() != uidValidity {
				t.Errorf("UIDVALIDITY %d, want %d kept", m2.UIDValidity(), uidValidity)
			}
			snap, err := m2.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := uidsOf(snap.Messages.Messages()); !slices.Equal(got, []uint32{1, 3}) {
				t.Fatalf("UIDs %v after the restart, want [1 3] (2 expunged)", got)
			}
			if f := snap.Messages.At(0).Flags; !slices.Equal(f, []string{`\Seen`}) {
				t.Errorf("UID 1 flags %q, want the acknowledged [\\Seen]", f)
			}
			if f := snap.Messages.At(1).Flags; !slices.Equal(f, []string{`\Flagged`}) {
				t.Errorf("UID 3 flags %q, want the acknowledged [\\Flagged]", f)
			}
			names, err := listNames(cur)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(names)
			want := []string{fileOf(t, mb, 1), chain[len(chain)-1]}
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Errorf("cur/ holds %q, want %q", names, want)
			}
		})
	}
}

// mustRename renames cur/from to cur/to.
func mustRename(t *testing.T, cur, from, to string) {
	t.Helper()
	if err := os.Rename(filepath.Join(cur, from), filepath.Join(cur, to)); err != nil {
		t.Fatal(err)
	}
}

// TestNameLogPruned: once cur/ is fsynced after a logged rename, the
// next flag commit deletes its entry, so the log holds only what is not
// known to be on disk.
func TestNameLogPruned(t *testing.T) {
	ctx := context.Background()
	synced := make(chan string, 16)
	opts := Options{nameSyncDelay: 10 * time.Millisecond}
	opts.dirSynced = func(dir string) { synced <- dir }
	s, _ := testStore(t, opts)
	mb := testMailbox(t, testUser(t, s, "alice"), "INBOX")
	mustAppend(t, mb, msg("a"))
	mustAppend(t, mb, msg("b"))
	<-synced // the appends' own fsyncs of cur/
	<-synced
	cur := filepath.Join(mb.(*mailboxHandle).u.maildir, "cur")
	for uid := uint32(1); uid <= 2; uid++ {
		from := fileOf(t, mb, uid)
		if _, _, err := mb.StoreFlags(ctx, []uint32{uid}, mailstore.FlagsAdd, []string{`\Seen`}, 0); err != nil {
			t.Fatal(err)
		}
		want := []string{from + ">" + fileOf(t, mb, uid)}
		if log := nameLogOf(t, mb); !slices.Equal(log, want) {
			t.Fatalf("after STORE on UID %d the name log is %q, want %q", uid, log, want)
		}
		select {
		case d := <-synced:
			if d != cur {
				t.Fatalf("fsynced %s, want %s", d, cur)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("cur/ not fsynced after the STORE on UID %d", uid)
		}
	}
}

// TestNameLogRenameMailbox: a rename logged in a folder that RENAME then
// moves is fsynced before the move (its pending fsync names the old
// path), so its entry can go; otherwise the sync would find no folder
// there and the rename would be taken as synced when it was not.
func TestNameLogRenameMailbox(t *testing.T) {
	ctx := context.Background()
	synced := make(chan string, 16)
	opts := Options{nameSyncDelay: time.Hour}
	opts.dirSynced = func(dir string) { synced <- dir }
	s, _ := testStore(t, opts)
	u := testUser(t, s, "alice")
	if err := u.CreateMailbox(ctx, "Work", ""); err != nil {
		t.Fatal(err)
	}
	mb := testMailbox(t, u, "Work")
	mustAppend(t, mb, msg("a"))
	<-synced // the append's own fsync of cur/
	if _, _, err := mb.StoreFlags(ctx, []uint32{1}, mailstore.FlagsAdd, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	cur := filepath.Join(mb.(*mailboxHandle).u.maildir, dirName("Work"), "cur")
	mb.Close()
	if err := u.RenameMailbox(ctx, "Work", "Play"); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-synced:
		if d != cur {
			t.Errorf("fsynced %s before the RENAME, want %s", d, cur)
		}
	default:
		t.Fatalf("RENAME returned and %s, with a logged rename, was not fsynced before it moved", cur)
	}
}
