package maildir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

func quotaOf(t *testing.T, u mailstore.User) mailstore.Quota {
	t.Helper()
	q, err := u.(mailstore.QuotaUser).Quota(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestQuotaUsageFollowsChanges: usage is the index's counters, following
// appends, copies, moves, expunges, deleted mailboxes and messages other
// programs put into the Maildir; limits from Options apply until
// SetQuotaLimits replaces them, and a refused append leaves nothing.
func TestQuotaUsageFollowsChanges(t *testing.T) {
	s, root := testStore(t, Options{QuotaLimits: func(user string) mailstore.QuotaLimits {
		return mailstore.QuotaLimits{Messages: 4}
	}})
	u := testUser(t, s, "alice")
	in := testMailbox(t, u, "INBOX")
	a := mustAppend(t, in, msg("one"))
	mustAppend(t, in, msg("two"), `\Deleted`)
	size := int64(len(msg("one")))
	want := func(step string, msgs, bytes int64) {
		t.Helper()
		if q := quotaOf(t, u); q.Usage != (mailstore.QuotaUsage{Messages: msgs, Storage: bytes}) {
			t.Fatalf("%s: usage %+v, want %d messages, %d bytes", step, q.Usage, msgs, bytes)
		}
	}
	want("two appends", 2, 2*size)
	ctx := context.Background()
	if _, err := in.Copy(ctx, []uint32{a}, "Archive"); err != nil {
		t.Fatal(err)
	}
	want("copy", 3, 3*size)
	if _, err := in.Move(ctx, []uint32{a}, "Trash"); err != nil {
		t.Fatal(err)
	}
	want("move", 3, 3*size)
	if _, err := in.Expunge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	want("expunge", 2, 2*size)
	// Another program delivers into a mailbox no handle holds.
	ext := "Subject: external\r\n\r\nfrom outside\r\n"
	dir := filepath.Join(root, "users", "alice", "Maildir", ".Junk")
	if err := os.WriteFile(filepath.Join(dir, "tmp", "1.ext"), []byte(ext), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "tmp", "1.ext"), filepath.Join(dir, "new", "1.ext")); err != nil {
		t.Fatal(err)
	}
	want("external delivery", 3, 2*size+int64(len(ext)))
	mustAppend(t, in, msg("four"))
	_, err := in.Append(ctx, strings.NewReader(msg("five")), nil, time.Time{})
	if !errors.Is(err, mailstore.ErrOverQuota) {
		t.Fatalf("fifth message over a limit of 4: %v", err)
	}
	want("refused append", 4, 2*size+int64(len(msg("four"))+len(ext)))
	if err := u.DeleteMailbox(ctx, "Junk"); err != nil {
		t.Fatal(err)
	}
	want("deleted mailbox", 3, 2*size+int64(len(msg("four"))))
	if err := u.(mailstore.QuotaUser).SetQuotaLimits(ctx, &mailstore.QuotaLimits{Storage: 2*size + int64(len(msg("four"))) + 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Append(ctx, strings.NewReader(msg("five")), nil, time.Time{}); !errors.Is(err, mailstore.ErrOverQuota) {
		t.Fatalf("append past a storage limit set by SetQuotaLimits: %v", err)
	}
	if err := u.(mailstore.QuotaUser).SetQuotaLimits(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if q := quotaOf(t, u); q.Limits != (mailstore.QuotaLimits{Messages: 4}) {
		t.Fatalf("limits after removing the set ones: %+v", q.Limits)
	}
}

// TestQuotaSurvivesRestart: limits set with SetQuotaLimits and the usage
// are there after the store is closed and opened again, and usage is
// rebuilt from the Maildir when the index is lost.
func TestQuotaSurvivesRestart(t *testing.T) {
	root := t.TempDir()
	open := func() (*Store, mailstore.User) {
		s, err := Open(root, Options{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.User(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		return s, u
	}
	s, u := open()
	in, err := u.Mailbox(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, in, msg("one"))
	mustAppend(t, in, msg("two"))
	limits := mailstore.QuotaLimits{Messages: 2, Storage: 1 << 20}
	if err := u.(mailstore.QuotaUser).SetQuotaLimits(context.Background(), &limits); err != nil {
		t.Fatal(err)
	}
	in.Close()
	u.Close()
	s.Close()

	want := mailstore.Quota{Usage: mailstore.QuotaUsage{Messages: 2, Storage: 2 * int64(len(msg("one")))}, Limits: limits}
	s, u = open()
	if q := quotaOf(t, u); q != want {
		t.Fatalf("after restart: %+v, want %+v", q, want)
	}
	u.Close()
	s.Close()

	if err := os.Remove(filepath.Join(root, "users", "alice", indexFile)); err != nil {
		t.Fatal(err)
	}
	s, u = open()
	defer s.Close()
	defer u.Close()
	want.Limits = mailstore.QuotaLimits{} // they lived in the lost index
	if q := quotaOf(t, u); q != want {
		t.Fatalf("after losing the index: %+v, want %+v", q, want)
	}
}

// TestReadQuota: without a Store (an MDA while no server runs), the
// quota is the index's counters plus what waits in new/, with the limits
// SetQuotaLimits kept in the index; with no index, every message counts;
// and the Maildir is left as it was.
func TestReadQuota(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root, Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	u := testUser(t, s, "alice")
	in := testMailbox(t, u, "INBOX")
	mustAppend(t, in, msg("one"))
	limits := mailstore.QuotaLimits{Messages: 10}
	if err := u.(mailstore.QuotaUser).SetQuotaLimits(context.Background(), &limits); err != nil {
		t.Fatal(err)
	}
	in.Close()
	u.Close()
	s.Close()
	waiting := "Subject: waiting\r\n\r\nin new/\r\n"
	newFile := filepath.Join(root, "users", "alice", "Maildir", ".Archive", "new", "1.mda")
	if err := os.WriteFile(newFile, []byte(waiting), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(string) mailstore.QuotaLimits { return mailstore.QuotaLimits{Messages: 99} }
	q, err := ReadQuota(root, "alice", config)
	if err != nil {
		t.Fatal(err)
	}
	want := mailstore.Quota{Usage: mailstore.QuotaUsage{Messages: 2, Storage: int64(len(msg("one")) + len(waiting))}, Limits: limits}
	if q != want {
		t.Fatalf("with an index: %+v, want %+v", q, want)
	}
	if _, err := os.Stat(newFile); err != nil {
		t.Errorf("the waiting message moved: %v", err)
	}
	if err := os.Remove(filepath.Join(root, "users", "alice", indexFile)); err != nil {
		t.Fatal(err)
	}
	if q, err = ReadQuota(root, "alice", config); err != nil {
		t.Fatal(err)
	}
	want.Limits = mailstore.QuotaLimits{Messages: 99}
	if q.Usage.Messages != 2 || q.Limits != want.Limits {
		t.Fatalf("without an index: %+v, want 2 messages and limits %+v", q, want.Limits)
	}
}

// TestQuotaConcurrentAppends: appends racing for the last place under a
// limit cannot overshoot it, since each checks inside its own write
// transaction: exactly one of them is stored.
func TestQuotaConcurrentAppends(t *testing.T) {
	s, _ := testStore(t, Options{NoSync: true, QuotaLimits: func(string) mailstore.QuotaLimits {
		return mailstore.QuotaLimits{Messages: 3}
	}})
	u := testUser(t, s, "alice")
	in := testMailbox(t, u, "INBOX")
	mustAppend(t, in, msg("one"))
	mustAppend(t, in, msg("two"))
	const racers = 8
	errs := make(chan error, racers)
	for i := 0; i < racers; i++ {
		go func() {
			_, err := in.Append(context.Background(), strings.NewReader(msg("racer")), nil, time.Time{})
			errs <- err
		}()
	}
	stored := 0
	for i := 0; i < racers; i++ {
		switch err := <-errs; {
		case err == nil:
			stored++
		case !errors.Is(err, mailstore.ErrOverQuota):
			t.Fatalf("append: %v", err)
		}
	}
	if stored != 1 {
		t.Fatalf("%d racing appends stored under a limit with room for one", stored)
	}
	if q := quotaOf(t, u); q.Usage.Messages != 3 {
		t.Fatalf("usage %+v", q.Usage)
	}
}
