package maildir

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

const dovecotFixtures = "testdata/dovecot"

func dovecotFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dovecotFixtures, path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureLog decodes a transaction log kept as `xxd` output.
func dovecotFixtureLog(t *testing.T, path string) []byte {
	t.Helper()
	var out []byte
	for _, line := range strings.Split(string(dovecotFixture(t, path)), "\n") {
		_, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		if len(rest) > 39 {
			rest = rest[:39] // drop the ASCII column
		}
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(rest), " ", ""))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, b...)
	}
	return out
}

func TestParseDovecotUIDList(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		wantErr   bool
		version   int
		uv, next  uint32
		uids      []uint32
		firstBase string
	}{
		{name: "v3 from Dovecot 2.3", text: string(dovecotFixture(t, "inbox/dovecot-uidlist")),
			version: 3, uv: 1796619891, next: 5, uids: []uint32{1, 2, 3, 4, 5},
			firstBase: "1796619889.M715509P6393.vm,S=20,W=23"},
		{name: "v3 with extension fields and flags in a name",
			text:    "3 V42 N10 G0123\n7 W1234 GABCDEF :a.host,S=3:2,S\n8 :b.host\n",
			version: 3, uv: 42, next: 10, uids: []uint32{7, 8}, firstBase: "a.host,S=3"},
		{name: "v1", text: string(dovecotFixture(t, "uidlist-v1")),
			// UID 3 after 4 is out of order: skipped, as Dovecot does.
			version: 1, uv: 1158260446, next: 7, uids: []uint32{1, 2, 4},
			firstBase: "1158260441.P4530Q0.host"},
		{name: "v2", text: "2 99 3\n1 x.host\n2 y.host:2,FS\n", version: 2, uv: 99, next: 3,
			uids: []uint32{1, 2}, firstBase: "x.host"},
		{name: "v3 header only", text: "3 V5 N1 Gabc\n", version: 3, uv: 5, next: 1},
		{name: "junk lines skipped", text: "3 V5 N9\nx :a\n0 :b\n4 nocolon\n4 :../evil\n5 :ok\n",
			version: 3, uv: 5, next: 9, uids: []uint32{5}, firstBase: "ok"},
		{name: "unknown version", text: "4 V1 N1\n", wantErr: true},
		{name: "no uidvalidity", text: "3 N1 Gabc\n", wantErr: true},
		{name: "v1 short header", text: "1 5\n", wantErr: true},
		{name: "empty", text: "", wantErr: true},
		{name: "bad number", text: "3 Vx N1\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ul, err := parseDovecotUIDList(strings.NewReader(tt.text))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", ul)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var uids []uint32
			for _, e := range ul.entries {
				uids = append(uids, e.uid)
			}
			if ul.version != tt.version || ul.uidValidity != tt.uv || ul.nextUID != tt.next || !reflect.DeepEqual(uids, tt.uids) {
				t.Fatalf("got version %d V%d N%d uids %v, want %d V%d N%d %v",
					ul.version, ul.uidValidity, ul.nextUID, uids, tt.version, tt.uv, tt.next, tt.uids)
			}
			if len(ul.entries) > 0 && ul.entries[0].base != tt.firstBase {
				t.Fatalf("first base %q, want %q", ul.entries[0].base, tt.firstBase)
			}
		})
	}
}

func TestDovecotKeywords(t *testing.T) {
	kw, err := parseDovecotKeywords(strings.NewReader(string(dovecotFixture(t, "inbox/dovecot-keywords")) +
		"26 beyond-z\nx bad\n5 bad(atom\n7\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		info string
		want []string
	}{
		{"Sab", []string{"$Important", "custom1"}},
		{"Fc", []string{"custom2"}},
		{"Rd", []string{"kw3"}},
		{"", nil},
		{"S", nil},
		{"fz", nil}, // letters the file does not define
		{"ba", []string{"$Important", "custom1"}},
	}
	for _, tt := range tests {
		if got := kw.keywordsFromInfo(tt.info); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("keywordsFromInfo(%q) = %q, want %q", tt.info, got, tt.want)
		}
	}
}

func TestParseDovecotSubscriptions(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []string
		wantErr bool
	}{
		{name: "v2 from Dovecot 2.3", text: string(dovecotFixture(t, "subscriptions")), want: []string{"Lists/go", "INBOX", "Sent"}},
		{name: "v1", text: string(dovecotFixture(t, "subscriptions-v1")), want: []string{"INBOX", "Lists/go", "Archive/2024"}},
		{name: "inbox in any case", text: "V\t2\n\ninbox\n", want: []string{"INBOX"}},
		{name: "modified UTF-7", text: "V\t2\n\nEntw&APw-rfe\nCaf&AOk-\tMen&APo-\nR&D\n", want: []string{"Entwürfe", "Café/Menú", "R&D"}},
		{name: "unknown version", text: "V\t3\n\nx\n", wantErr: true},
		{name: "empty", text: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDovecotSubscriptions(strings.NewReader(tt.text))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDovecotLastUIDValidity(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  uint32
	}{
		{name: "none", want: 0},
		{name: "file", files: map[string]string{"dovecot-uidvalidity": string(dovecotFixture(t, "dovecot-uidvalidity"))}, want: 1796619891},
		{name: "file and a larger name", files: map[string]string{
			"dovecot-uidvalidity": "6b163e73", "dovecot-uidvalidity.6b163e80": ""}, want: 0x6b163e80},
		{name: "junk", files: map[string]string{"dovecot-uidvalidity": "zz", "dovecot-uidvalidity.q": ""}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, c := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := dovecotLastUIDValidity(dir); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestDovecotLogModSeq(t *testing.T) {
	inbox := dovecotFixtureLog(t, "inbox/dovecot.index.log.hex")
	// A log that announces a MODSEQ_UPDATE record setting 1000.
	withUpdate := append([]byte(nil), inbox...)
	withUpdate = append(withUpdate, 0x80, 0x80, 0x80, 0x85, 0x00, 0x80, 0x00, 0x10) // 20 bytes, MODSEQ_UPDATE|EXTERNAL
	withUpdate = append(withUpdate, 4, 0, 0, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0)
	tests := []struct {
		name      string
		log       []byte
		want      uint64
		wantExact bool
		wantErr   bool
	}{
		// What Dovecot answered to STATUS (testdata/dovecot/README.md).
		{name: "INBOX", log: inbox, want: 17, wantExact: true},
		{name: "Lists.go", log: dovecotFixtureLog(t, "lists.go/dovecot.index.log.hex"), want: 3, wantExact: true},
		{name: "a record being written", log: append(append([]byte(nil), inbox...), 0, 0, 0, 0, 4, 0, 0, 0), want: 17, wantExact: true},
		{name: "cut in a record", log: inbox[:len(inbox)-4], want: 17, wantExact: false},
		{name: "modseq update", log: withUpdate, want: 1000, wantExact: true},
		{name: "short", log: inbox[:20], wantErr: true},
		{name: "other major version", log: append([]byte{2}, inbox[1:]...), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, exact, err := dovecotLogModSeq(tt.log)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if exact != tt.wantExact || (exact && got != tt.want) || (!exact && got < tt.want) {
				t.Fatalf("got %d (exact %v), want %d (exact %v)", got, exact, tt.want, tt.wantExact)
			}
		})
	}
}

// dovecotMaildir lays out, under root, user alice's Maildir as Dovecot
// left it (testdata/dovecot), with a message for each file name.
func dovecotMaildir(t *testing.T, root string) string {
	t.Helper()
	md := filepath.Join(root, "users", "alice", "Maildir")
	for _, f := range []struct{ dir, fixtures string }{{"", "inbox"}, {".Lists.go", "lists.go"}, {".Sent", ""}} {
		dir := filepath.Join(md, f.dir)
		if err := makeMaildir(dir, f.dir != "", true); err != nil {
			t.Fatal(err)
		}
		if f.fixtures == "" {
			continue
		}
		for _, n := range []string{"dovecot-uidlist", "dovecot-keywords"} {
			if b, err := os.ReadFile(filepath.Join(dovecotFixtures, f.fixtures, n)); err == nil {
				if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.WriteFile(filepath.Join(dir, dovecotLogFile), dovecotFixtureLog(t, f.fixtures+"/dovecot.index.log.hex"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, sub := range []string{"cur", "new"} {
			for _, n := range strings.Fields(string(dovecotFixture(t, f.fixtures+"/"+sub+".txt"))) {
				body := "Subject: " + n + "\n\nbody\n"
				if err := os.WriteFile(filepath.Join(dir, sub, n), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, n := range []string{"subscriptions", "dovecot-uidvalidity"} {
		if err := os.WriteFile(filepath.Join(md, n), dovecotFixture(t, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return md
}

// TestDovecotTakeover opens a Maildir Dovecot served: every mailbox keeps
// its UIDVALIDITY, UIDs, UIDNEXT and keywords, HIGHESTMODSEQ is what
// Dovecot reported, subscriptions are kept, a file Dovecot never gave a
// UID gets one from UIDNEXT on, and a new mailbox gets a UIDVALIDITY
// Dovecot never gave out.
func TestDovecotTakeover(t *testing.T) {
	ctx := context.Background()
	s, root := testStore(t, Options{NoSync: true})
	md := dovecotMaildir(t, root)
	// Delivered while Dovecot was down: in new/, not in the uidlist.
	if err := os.WriteFile(filepath.Join(md, "new", "1796620000.M1P1.mda"), []byte("Subject: late\n\nx\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Dovecot may have handed out higher UIDVALIDITYs than its mailboxes
	// still hold.
	if err := os.WriteFile(filepath.Join(md, "dovecot-uidvalidity."+strconv.FormatUint(uint64(time.Now().Unix()+1000), 16)), nil, 0o400); err != nil {
		t.Fatal(err)
	}
	// A folder Dovecot named in modified UTF-7, subscribed.
	drafts := filepath.Join(md, ".Entw&APw-rfe")
	if err := makeMaildir(drafts, true, true); err != nil {
		t.Fatal(err)
	}
	for n, c := range map[string]string{"dovecot-uidlist": "3 V77 N3 Gx\n2 :x.host,S=12\n", "cur/x.host,S=12:2,S": "Subject: x\n\n"} {
		if err := os.WriteFile(filepath.Join(drafts, n), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sf, err := os.OpenFile(filepath.Join(md, "subscriptions"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	sf.WriteString("Entw&APw-rfe\n")
	sf.Close()
	u := testUser(t, s, "alice")

	type msgWant struct {
		uid   uint32
		flags []string
	}
	tests := []struct {
		mailbox string
		status  mailstore.Status
		msgs    []msgWant
	}{
		{"INBOX", mailstore.Status{Messages: 4, UIDNext: 7, UIDValidity: 1796619891, HighestModSeq: 18}, []msgWant{
			{1, []string{"$Important", `\Seen`, "custom1"}},
			{2, []string{`\Flagged`, "custom2"}},
			{4, []string{`\Answered`, "kw3"}},
			{6, []string{}}, // the late delivery
		}},
		{"Lists/go", mailstore.Status{Messages: 2, UIDNext: 3, UIDValidity: 1796619890, HighestModSeq: 3}, []msgWant{
			{1, []string{}}, {2, []string{}},
		}},
		// No transaction log: the bound from the mailbox's age (below).
		{"Entwürfe", mailstore.Status{Messages: 1, UIDNext: 3, UIDValidity: 77}, []msgWant{
			{2, []string{`\Seen`}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.mailbox, func(t *testing.T) {
			m := testMailbox(t, u, tt.mailbox)
			v, err := m.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.status.HighestModSeq == 0 {
				bound := uint64(time.Now().Unix()-77-60) * maxDovecotChangesPerSecond
				if v.HighestModSeq < bound || v.HighestModSeq >= 1<<53 {
					t.Fatalf("HIGHESTMODSEQ %d without a log, want from %d (the bound) to 2^53", v.HighestModSeq, bound)
				}
				tt.status.HighestModSeq = v.HighestModSeq
			}
			if v.UIDValidity != tt.status.UIDValidity || v.UIDNext != tt.status.UIDNext || v.HighestModSeq != tt.status.HighestModSeq {
				t.Fatalf("UIDVALIDITY %d UIDNEXT %d HIGHESTMODSEQ %d, want %d %d %d", v.UIDValidity, v.UIDNext, v.HighestModSeq,
					tt.status.UIDValidity, tt.status.UIDNext, tt.status.HighestModSeq)
			}
			if v.Messages.Len() != len(tt.msgs) {
				t.Fatalf("%d messages, want %d", v.Messages.Len(), len(tt.msgs))
			}
			for i, w := range tt.msgs {
				got := v.Messages.At(i)
				if got.UID != w.uid || strings.Join(got.Flags, " ") != strings.Join(w.flags, " ") {
					t.Errorf("message %d: UID %d flags %q, want UID %d flags %q", i+1, got.UID, got.Flags, w.uid, w.flags)
				}
			}
			// A QRESYNC client that synced with Dovecot last hears of
			// nothing taken over as changed.
			ch, err := m.ChangesSince(ctx, 17)
			if tt.mailbox == "INBOX" && (err != nil || len(ch.Changed) != 1 || ch.Changed[0].UID != 6) {
				t.Fatalf("changes since 17: %+v, %v; want the late delivery only", ch, err)
			}
			if _, err := m.ChangesSince(ctx, 0); err == nil {
				t.Fatal("changes since a MODSEQ before the takeover: want ErrExpungeLogShort (all UIDs missing are reported)")
			}
		})
	}

	boxes, err := u.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var subs []string
	for _, b := range boxes {
		if b.Subscribed {
			subs = append(subs, b.Name)
		}
	}
	if want := []string{"INBOX", "Entwürfe", "Lists/go", "Sent"}; !reflect.DeepEqual(subs, want) {
		t.Fatalf("subscribed %q, want %q", subs, want)
	}

	if err := u.CreateMailbox(ctx, "New", ""); err != nil {
		t.Fatal(err)
	}
	st, err := u.Status(ctx, "New")
	if err != nil {
		t.Fatal(err)
	}
	if floor := uint32(time.Now().Unix() + 1000); st.UIDValidity <= floor {
		t.Fatalf("new mailbox UIDVALIDITY %d, want above %d (dovecot-uidvalidity)", st.UIDValidity, floor)
	}
	// Dovecot's files are left in place.
	for _, n := range []string{"dovecot-uidlist", "dovecot-keywords", dovecotLogFile, "subscriptions"} {
		if _, err := os.Stat(filepath.Join(md, n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := os.Stat(filepath.Join(md, ".New", dovecotUIDListFile)); err == nil {
		t.Error("a mailbox made by Dormouse got a dovecot-uidlist")
	}

	// The uidlist names every UID Dormouse gave out, with its file, so
	// that Dovecot would find the same UIDs again.
	inbox := testMailbox(t, u, "INBOX")
	uid := mustAppend(t, inbox, msg("after the takeover"))
	f, err := os.Open(filepath.Join(md, dovecotUIDListFile))
	if err != nil {
		t.Fatal(err)
	}
	ul, err := parseDovecotUIDList(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	byUID := map[uint32]string{}
	for _, e := range ul.entries {
		byUID[e.uid] = e.base
	}
	if ul.uidValidity != 1796619891 || len(ul.entries) != 7 {
		t.Fatalf("uidlist V%d with %d lines, want V1796619891 and 7 (5 from Dovecot, the late delivery, the append)", ul.uidValidity, len(ul.entries))
	}
	for _, want := range []uint32{6, uid} {
		base := byUID[want]
		names, _ := filepath.Glob(filepath.Join(md, "cur", base+":2,*"))
		if base == "" || len(names) != 1 {
			t.Errorf("uidlist line for UID %d names %q, which is not one file in cur/ (%q)", want, base, names)
		}
	}

	// Keywords go into file names as Dovecot's letters, a new keyword
	// into dovecot-keywords, so that Dovecot would read them back.
	if _, _, err := inbox.StoreFlags(ctx, []uint32{2}, mailstore.FlagsRemove, []string{"custom2"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := inbox.StoreFlags(ctx, []uint32{2}, mailstore.FlagsAdd, []string{"NewKW", "$Important"}, 0); err != nil {
		t.Fatal(err)
	}
	kwUID := mustAppend(t, inbox, msg("with a keyword"), "kw3", `\Seen`)
	kb, err := os.ReadFile(filepath.Join(md, dovecotKeywordsFile))
	if err != nil {
		t.Fatal(err)
	}
	kw, err := parseDovecotKeywords(strings.NewReader(string(kb)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		uid  uint32
		want []string
	}{{2, []string{"$Important", "NewKW"}}, {kwUID, []string{"kw3"}}} {
		names, _ := filepath.Glob(filepath.Join(md, "cur", byUIDBase(t, md, c.uid)+":2,*"))
		if len(names) != 1 {
			t.Fatalf("UID %d: files %q", c.uid, names)
		}
		_, info := splitInfo(filepath.Base(names[0]))
		if got := kw.keywordsFromInfo(info); !reflect.DeepEqual(got, c.want) {
			t.Errorf("UID %d: file %s reads as keywords %q through dovecot-keywords, want %q", c.uid, filepath.Base(names[0]), got, c.want)
		}
	}
}

// byUIDBase returns the base name the INBOX's dovecot-uidlist gives uid.
func byUIDBase(t *testing.T, md string, uid uint32) string {
	t.Helper()
	f, err := os.Open(filepath.Join(md, dovecotUIDListFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ul, err := parseDovecotUIDList(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ul.entries {
		if e.uid == uid {
			return e.base
		}
	}
	t.Fatalf("UID %d not in the uidlist", uid)
	return ""
}

// TestDovecotTakeoverIndexLost: an index lost after a takeover is rebuilt
// with a new UIDVALIDITY, as any lost index is, rather than taken over
// from Dovecot's files again: Dormouse has given out MODSEQs above
// Dovecot's since, and a second takeover would start below them. Once
// Dovecot has served the folder again (its MODSEQ moved on), Dormouse
// takes it over again.
func TestDovecotTakeoverIndexLost(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	md := dovecotMaildir(t, root)
	status := func() mailstore.Status {
		t.Helper()
		s, err := Open(root, Options{NoSync: true, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		u, err := s.User(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		m, err := u.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		mustAppend(t, m, msg("more")) // Dormouse's MODSEQs move past Dovecot's
		st, err := u.Status(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	loseIndex := func() {
		t.Helper()
		if err := os.Remove(filepath.Join(root, "users", "alice", indexFile)); err != nil {
			t.Fatal(err)
		}
	}

	first := status()
	if first.UIDValidity != 1796619891 {
		t.Fatalf("first open: UIDVALIDITY %d, want Dovecot's", first.UIDValidity)
	}
	loseIndex()
	if again := status(); again.UIDValidity == first.UIDValidity {
		t.Fatalf("after the index was lost: UIDVALIDITY %d again, HIGHESTMODSEQ %d (was %d): taken over twice",
			again.UIDValidity, again.HighestModSeq, first.HighestModSeq)
	}

	// Dovecot serves the Maildir again: its log grows by a record that
	// moves its MODSEQ (an append).
	log := dovecotFixtureLog(t, "inbox/dovecot.index.log.hex")
	log = append(log, 0x80, 0x80, 0x80, 0x84, 0x02, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0) // 16 bytes, APPEND|EXTERNAL
	if err := os.WriteFile(filepath.Join(md, dovecotLogFile), log, 0o600); err != nil {
		t.Fatal(err)
	}
	loseIndex()
	if back := status(); back.UIDValidity != 1796619891 || back.HighestModSeq < 18 {
		t.Fatalf("after Dovecot served again: UIDVALIDITY %d HIGHESTMODSEQ %d, want Dovecot's UIDVALIDITY and 18 or more", back.UIDValidity, back.HighestModSeq)
	}
}
