package maildir

import (
	"context"
	"reflect"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// TestMetadataDurableAndFollowsMailboxes: entries survive a restart of
// the store; a mailbox deleted while it has children (kept \Noselect)
// loses its entries, as one deleted outright does; the server's entries
// and other mailboxes' are untouched.
func TestMetadataDurableAndFollowsMailboxes(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	open := func() (*Store, mailstore.MetadataUser) {
		s, err := Open(root, Options{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.User(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close(); s.Close() })
		return s, u.(mailstore.MetadataUser)
	}
	get := func(mu mailstore.MetadataUser, mailbox string) []mailstore.MetadataEntry {
		t.Helper()
		es, err := mu.GetMetadata(ctx, mailbox, []string{"/private", "/shared"}, mailstore.DepthInfinity)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	set := func(mu mailstore.MetadataUser, mailbox, name, value string) {
		t.Helper()
		if err := mu.SetMetadata(ctx, mailbox, []mailstore.MetadataEntry{{Name: name, Value: []byte(value)}}, mailstore.MetadataLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	s, mu := open()
	if err := mu.(mailstore.User).CreateMailbox(ctx, "Lists/Go", ""); err != nil {
		t.Fatal(err)
	}
	set(mu, "", "/shared/admin", "mailto:root@example.org")
	set(mu, "Lists", "/private/comment", "parent")
	set(mu, "Lists/Go", "/private/comment", "child")
	s.Close()

	_, mu = open()
	want := []mailstore.MetadataEntry{{Name: "/private/comment", Value: []byte("parent")}}
	if got := get(mu, "Lists"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart: %q, want %q", got, want)
	}
	u := mu.(mailstore.User)
	if err := u.DeleteMailbox(ctx, "Lists"); err != nil { // kept as \Noselect
		t.Fatal(err)
	}
	if got := get(mu, "Lists"); len(got) != 0 {
		t.Errorf("\\Noselect parent kept %q", got)
	}
	if got := get(mu, "Lists/Go"); len(got) != 1 {
		t.Errorf("child lost its entries: %q", got)
	}
	if err := u.DeleteMailbox(ctx, "Lists/Go"); err != nil {
		t.Fatal(err)
	}
	if err := u.CreateMailbox(ctx, "Lists/Go", ""); err != nil {
		t.Fatal(err)
	}
	if got := get(mu, "Lists/Go"); len(got) != 0 {
		t.Errorf("a new mailbox under a deleted one's name has %q", got)
	}
	if got := get(mu, ""); len(got) != 1 || string(got[0].Value) != "mailto:root@example.org" {
		t.Errorf("server entries: %q", got)
	}
}
