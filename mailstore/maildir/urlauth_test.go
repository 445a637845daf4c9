package maildir

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// TestAccessKeys: a URLAUTH access key is made on first use, is the same
// after a restart, follows RENAME, goes with DELETE (a mailbox made again
// under the name gets another), and RESETKEY of one mailbox or of all
// drops keys; a missing mailbox has no key.
func TestAccessKeys(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	open := func() (*Store, mailstore.User, mailstore.URLAuthUser) {
		s, err := Open(root, Options{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.User(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close(); s.Close() })
		return s, u, u.(mailstore.URLAuthUser)
	}
	key := func(ku mailstore.URLAuthUser, mailbox string, create bool) []byte {
		t.Helper()
		k, err := ku.AccessKey(ctx, mailbox, create)
		if err != nil {
			t.Fatalf("AccessKey(%q, %v): %v", mailbox, create, err)
		}
		return k
	}
	s, _, ku := open()
	if k := key(ku, "INBOX", false); k != nil {
		t.Fatalf("a key before any was made: %x", k)
	}
	inbox := key(ku, "inbox", true)
	if len(inbox) != 32 || bytes.Equal(inbox, make([]byte, 32)) {
		t.Fatalf("key %x", inbox)
	}
	sent := key(ku, "Sent", true)
	if bytes.Equal(inbox, sent) {
		t.Fatal("two mailboxes share a key")
	}
	s.Close()

	_, u, ku := open()
	if k := key(ku, "INBOX", false); !bytes.Equal(k, inbox) {
		t.Fatalf("after restart %x, want %x", k, inbox)
	}
	if err := u.RenameMailbox(ctx, "Sent", "Sent Items"); err != nil {
		t.Fatal(err)
	}
	if k := key(ku, "Sent Items", false); !bytes.Equal(k, sent) {
		t.Fatalf("after RENAME %x, want %x", k, sent)
	}
	if err := u.DeleteMailbox(ctx, "Sent Items"); err != nil {
		t.Fatal(err)
	}
	if err := u.CreateMailbox(ctx, "Sent Items", ""); err != nil {
		t.Fatal(err)
	}
	if k := key(ku, "Sent Items", false); k != nil {
		t.Fatalf("a mailbox made again keeps the old key %x", k)
	}
	if k := key(ku, "Sent Items", true); bytes.Equal(k, sent) {
		t.Fatal("a mailbox made again got the old key")
	}
	if err := ku.ResetAccessKeys(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	if k := key(ku, "INBOX", false); k != nil {
		t.Fatalf("RESETKEY INBOX kept %x", k)
	}
	if key(ku, "Sent Items", false) == nil {
		t.Fatal("RESETKEY INBOX dropped another mailbox's key")
	}
	if err := ku.ResetAccessKeys(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if k := key(ku, "Sent Items", false); k != nil {
		t.Fatalf("RESETKEY kept %x", k)
	}
	if err := ku.ResetAccessKeys(ctx, ""); err != nil {
		t.Fatalf("RESETKEY without keys: %v", err)
	}
	if _, err := ku.AccessKey(ctx, "Nope", true); !errors.Is(err, mailstore.ErrNoMailbox) {
		t.Fatalf("AccessKey of a missing mailbox: %v", err)
	}
	if err := ku.ResetAccessKeys(ctx, "Nope"); !errors.Is(err, mailstore.ErrNoMailbox) {
		t.Fatalf("ResetAccessKeys of a missing mailbox: %v", err)
	}
}
