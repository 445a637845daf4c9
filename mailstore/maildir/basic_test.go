package maildir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/mailstore"
)

func TestNewUserDefaults(t *testing.T) {
	s, root := testStore(t, Options{})
	u := testUser(t, s, "alice")
	list, err := u.Mailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []mailstore.MailboxInfo{
		{Name: "INBOX", Subscribed: true},
		{Name: "Archive", SpecialUse: `\Archive`, Subscribed: true},
		{Name: "Drafts", SpecialUse: `\Drafts`, Subscribed: true},
		{Name: "Junk", SpecialUse: `\Junk`, Subscribed: true},
		{Name: "Sent", SpecialUse: `\Sent`, Subscribed: true},
		{Name: "Trash", SpecialUse: `\Trash`, Subscribed: true},
	}
	if !reflect.DeepEqual(list, want) {
		t.Fatalf("mailboxes:\n got %+v\nwant %+v", list, want)
	}
	for _, d := range []string{"cur", "new", "tmp", ".Sent/cur", ".Sent/maildirfolder"} {
		if _, err := os.Stat(filepath.Join(root, "users", "alice", "Maildir", d)); err != nil {
			t.Errorf("missing %s: %v", d, err)
		}
	}
}

func TestAppendViewOpenStatus(t *testing.T) {
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "alice")
	m := testMailbox(t, u, "inbox")
	ctx := context.Background()
	uid1 := mustAppend(t, m, msg("one"), `\Seen`, "$Forwarded")
	uid2 := mustAppend(t, m, "Subject: bare\n\nlf body\n")
	if uid1 != 1 || uid2 != 2 {
		t.Fatalf("uids %d %d", uid1, uid2)
	}
	v, err := imapview.Open(ctx, m, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := uidsOf(v.Messages.Messages()); !reflect.DeepEqual(got, []uint32{1, 2}) {
		t.Fatalf("view uids %v", got)
	}
	if !reflect.DeepEqual(v.Messages.At(0).Flags, []string{"$Forwarded", `\Seen`}) {
		t.Fatalf("flags %v", v.Messages.At(0).Flags)
	}
	if !reflect.DeepEqual(v.Recent, []uint32{1, 2}) || !reflect.DeepEqual(v.Keywords, []string{"$Forwarded"}) {
		t.Fatalf("recent %v keywords %v", v.Recent, v.Keywords)
	}
	if got := readAll(t, m, 2); got != "Subject: bare\r\n\r\nlf body\r\n" {
		t.Fatalf("content %q", got)
	}
	if v.Messages.At(1).Size != int64(len("Subject: bare\r\n\r\nlf body\r\n")) {
		t.Fatalf("size %d", v.Messages.At(1).Size)
	}
	// A second view claims nothing: \Recent went to the first.
	v2, err := imapview.Open(ctx, m, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(v2.Recent) != 0 {
		t.Fatalf("second view recent %v", v2.Recent)
	}
	st, err := u.Status(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 2 || st.Unseen != 1 || st.UIDNext != 3 || st.Recent != 0 || st.UIDValidity != m.UIDValidity() ||
		st.Size != v.Messages.At(0).Size+v.Messages.At(1).Size || st.HighestModSeq != v.HighestModSeq {
		t.Fatalf("status %+v", st)
	}
	if _, err := m.Open(ctx, 99); !errors.Is(err, mailstore.ErrNoMessage) {
		t.Fatalf("open missing: %v", err)
	}
}

func TestStoreFlagsExpungeRefresh(t *testing.T) {
	s, root := testStore(t, Options{})
	u := testUser(t, s, "alice")
	m := testMailbox(t, u, "INBOX")
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		mustAppend(t, m, msg("m"))
	}
	v, err := imapview.Open(ctx, m, true)
	if err != nil {
		t.Fatal(err)
	}
	changed, failed, err := m.StoreFlags(ctx, []uint32{2, 4}, mailstore.FlagsAdd, []string{`\Deleted`, "Work"}, 0)
	if err != nil || len(changed) != 2 || len(failed) != 0 {
		t.Fatalf("store: %v %v %v", changed, failed, err)
	}
	// The flag is mirrored in the file name.
	names, _ := filepath.Glob(filepath.Join(root, "users/alice/Maildir/cur/*:2,T"))
	if len(names) != 2 {
		t.Fatalf("files with T: %v", names)
	}
	// UNCHANGEDSINCE below message 2's MODSEQ fails for it.
	_, failed, err = m.StoreFlags(ctx, []uint32{2, 3}, mailstore.FlagsAdd, []string{`\Seen`}, changed[0].ModSeq-1)
	if err != nil || !reflect.DeepEqual(failed, []uint32{2}) {
		t.Fatalf("unchangedsince: failed %v err %v", failed, err)
	}
	exp, err := m.Expunge(ctx, nil)
	if err != nil || !reflect.DeepEqual(exp, []uint32{2, 4}) {
		t.Fatalf("expunge %v %v", exp, err)
	}
	mustAppend(t, m, msg("six"))
	upd, err := imapview.Refresh(ctx, m, v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(upd.ExpungedSeqs, []uint32{4, 2}) || !reflect.DeepEqual(upd.ExpungedUIDs, []uint32{2, 4}) ||
		upd.Added != 1 || len(upd.Changed) != 1 || upd.Changed[0].Seq != 2 || !reflect.DeepEqual(upd.Keywords, []string{"Work"}) {
		t.Fatalf("update %+v", upd)
	}
	if got := uidsOf(v.Messages.Messages()); !reflect.DeepEqual(got, []uint32{1, 3, 5, 6}) {
		t.Fatalf("view uids %v", got)
	}
	if !reflect.DeepEqual(v.Messages.At(1).Flags, []string{`\Seen`}) {
		t.Fatalf("flags of 3: %v", v.Messages.At(1).Flags)
	}
	ch, err := m.ChangesSince(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ch.Expunged, []uint32{2, 4}) || len(ch.Changed) != 4 {
		t.Fatalf("changes %+v", ch)
	}
	// Nothing more: Refresh says so.
	upd, err = imapview.Refresh(ctx, m, v)
	if err != nil || upd.ExpungedSeqs != nil || upd.Added != 0 || upd.Changed != nil || upd.Keywords != nil {
		t.Fatalf("idle refresh %+v %v", upd, err)
	}
}

func TestMessagesByUID(t *testing.T) {
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "alice")
	m := testMailbox(t, u, "INBOX")
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		mustAppend(t, m, msg("m"), `\Seen`)
	}
	changed, _, err := m.StoreFlags(ctx, []uint32{3}, mailstore.FlagsAdd, []string{`\Flagged`, "Work"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.StoreFlags(ctx, []uint32{2}, mailstore.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Expunge(ctx, []uint32{2}); err != nil {
		t.Fatal(err)
	}
	snap, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byUID := map[uint32]mailstore.Message{}
	for _, msg := range snap.Messages.Messages() {
		byUID[msg.UID] = msg
	}
	for _, tc := range []struct {
		name string
		uids []uint32
		want []uint32
	}{
		{"one, flags changed", []uint32{3}, []uint32{3}},
		{"expunged and unknown UIDs left out", []uint32{1, 2, 3, 9}, []uint32{1, 3}},
		{"none", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.(mailstore.MessageReader).Messages(ctx, tc.uids)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(uidsOf(got), tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("UIDs %v, want %v", uidsOf(got), tc.want)
			}
			for _, g := range got {
				if !reflect.DeepEqual(g, byUID[g.UID]) {
					t.Errorf("record %d = %+v, snapshot has %+v", g.UID, g, byUID[g.UID])
				}
			}
		})
	}
	if changed[0].ModSeq == 0 {
		t.Fatal("no MODSEQ")
	}
}
