package maildir

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// wantMsg is what the index must hold of one file after a first open,
// worked out from the file itself.
type wantMsg struct {
	uid      uint32
	file     string // its name in cur/ afterwards
	internal int64  // its mtime
	size     int64  // RFC822.SIZE, bare LFs counted as CRLF
	sys      uint8
}

// firstOpenFile is a file of the Maildir TestFirstOpenIndex opens.
type firstOpenFile struct {
	sub, name, body string
	kind            string // "" a file, "dir", "symlink"
}

// firstOpenFiles are files of every kind a first open meets: sizes in the
// name right, wrong or missing, info missing, out of order or with
// letters twice, a base given twice, things that are not messages, and
// enough plain files to cross the index's list chunks and the Lstat
// chunks of a first open.
func firstOpenFiles() []firstOpenFile {
	crlf := "Subject: a\r\n\r\nbody\r\n"
	lf := "Subject: b\nX: y\n\nbare\nlines\n"
	sized := func(stem, body, info string) string {
		return fmt.Sprintf("%s,S=%d,W=%d:2,%s", stem, len(body), len(body)+strings.Count(body, "\n")-strings.Count(body, "\r\n"), info)
	}
	files := []firstOpenFile{
		{sub: "cur", name: sized("1700000000.M1P1Q1.host", lf, "S"), body: lf},
		{sub: "cur", name: "1700000001.M1P1Q2.host,S=999,W=5:2,", body: lf}, // S is not the size: counted
		{sub: "cur", name: "1700000002.M1P1Q3.host:2,FS", body: lf},
		{sub: "cur", name: "1700000003.M1P1Q4.host:2,SF", body: crlf},   // out of order: renamed
		{sub: "cur", name: "1700000004.M1P1Q5.host", body: crlf},        // no info: renamed
		{sub: "cur", name: "1700000005.M1P1Q6.host:2,Sa", body: crlf},   // a letter not a flag
		{sub: "cur", name: "1700000006.M1P1Q7.host:2,SS", body: crlf},   // S twice: renamed
		{sub: "cur", name: "1700000007.M1P1Q8.host:2,R", body: crlf},    // a base twice:
		{sub: "cur", name: "1700000007.M1P1Q8.host:2,RS", body: lf},     // this one gets a base of its own
		{sub: "cur", name: "1700000008.dir:2,", kind: "dir"},            // not a message
		{sub: "cur", name: "1700000009.link:2,S", kind: "symlink"},      // not a message
		{sub: "cur", name: ".hidden", body: crlf},                       // not mail
		{sub: "cur", name: "1700000010.M1P1Q10.host:2,T", body: crlf},   // \Deleted
		{sub: "new", name: "1700000011.M1P1Q11.host", body: lf},         // delivered: moved to cur/
		{sub: "new", name: "1700000012.M1P1Q12.host:2,", body: crlf},    // delivered with info
		{sub: "cur", name: "1700000013.M1P1Q13.host:2,DFRST", body: lf}, // every flag
		// A base twice again, above new/'s: the lookup a first open
		// skips for a base above every one indexed must not miss it.
		{sub: "cur", name: "1700000014.M1P1Q14.host:2,", body: lf},
		{sub: "cur", name: "1700000014.M1P1Q14.host:2,S", body: crlf},
		{sub: "cur", name: "1700000015.M1P1Q15.host1:2,", body: lf}, // a base that sorts
		{sub: "cur", name: "1700000015.M1P1Q15.host:2,", body: lf},  // after its name
	}
	for i := range 700 {
		body := fmt.Sprintf("Subject: bulk %d\n\n%s\n", i, strings.Repeat("x", i%50))
		files = append(files, firstOpenFile{sub: "cur", name: sized(fmt.Sprintf("%d.M2P2Q%d.bulk", 1_700_001_000+i, i), body, []string{"", "S", "FS"}[i%3]), body: body})
	}
	return files
}

// writeFirstOpenFiles writes files into the Maildir md, each with an
// mtime of its own (nanoseconds included), and returns what the index
// must say of them: new/ first, then cur/, each in name order, as a first
// open gives UIDs.
func writeFirstOpenFiles(t *testing.T, md string, files []firstOpenFile) []wantMsg {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range files {
		p := filepath.Join(md, f.sub, f.name)
		var err error
		switch f.kind {
		case "dir":
			err = os.Mkdir(p, 0o700)
		case "symlink":
			err = os.Symlink(filepath.Join(md, "cur", files[0].name), p)
		default:
			if err = os.WriteFile(p, []byte(f.body), 0o600); err == nil {
				mt := time.Unix(1_600_000_000+int64(i)*3600, int64(i)*1_000_003%1_000_000_000)
				err = os.Chtimes(p, mt, mt)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var want []wantMsg
	bases := map[string]bool{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(md, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents { // ReadDir sorts by name
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			fi, err := os.Lstat(filepath.Join(md, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			body, err := os.ReadFile(filepath.Join(md, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			uid := uint32(len(want) + 1)
			base, info := e.Name(), ""
			if i := strings.LastIndex(base, ":2,"); i >= 0 {
				base, info = base[:i], base[i+3:]
			}
			size := int64(len(body)) + int64(bytes.Count(body, []byte("\n"))-bytes.Count(body, []byte("\r\n")))
			if bases[base] {
				base = fmt.Sprintf("%s.dup%d", base, uid)
			}
			bases[base] = true
			var sys uint8
			letters := map[byte]bool{}
			for i := 0; i < len(info); i++ {
				letters[info[i]] = true
			}
			var norm []byte
			for c := range letters {
				norm = append(norm, c)
			}
			slices.Sort(norm)
			for _, c := range norm {
				sys |= map[byte]uint8{'R': flagAnswered, 'T': flagDeleted, 'D': flagDraft, 'F': flagFlagged, 'S': flagSeen}[c]
			}
			want = append(want, wantMsg{uid: uid, file: base + ":2," + string(norm), internal: fi.ModTime().UnixNano(), size: size, sys: sys})
		}
	}
	return want
}

// TestFirstOpenIndex: the first open of a Maildir with no index gives
// every file its UID in name order (new/ first), with INTERNALDATE its
// mtime to the nanosecond, RFC822.SIZE from the name when S= is right and
// counted otherwise, the flags of its info, a name in cur/ in Maildir
// order; and the index's every table agrees with the records: the base
// names, the MODSEQ entries (one MODSEQ per message, in UID order; an
// entry only for the files of new/), CHANGEDSINCE from every MODSEQ, the
// packed list, the mailbox's counters; and after a restart the same
// messages have the same UIDs. In one transaction and in batches.
func TestFirstOpenIndex(t *testing.T) {
	if unloggedMin > 700 {
		t.Fatalf("the fixture's 700 files in cur/ are fewer than a bulk ingest (%d)", unloggedMin)
	}
	for _, batch := range []int{0, 7} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			root := t.TempDir()
			md := filepath.Join(root, "users", "fay", "Maildir")
			want := writeFirstOpenFiles(t, md, firstOpenFiles())
			if len(want) < 700 {
				t.Fatalf("fixture: %d messages", len(want))
			}
			opts := Options{Logger: discardLogger(), rescanFiles: batch}
			before := time.Now().UnixNano()
			s, err := Open(root, opts)
			if err != nil {
				t.Fatal(err)
			}
			first := checkFirstOpen(t, s, md, want, before, time.Now)
			s.Close()
			// A restart: the index is there, the same messages have
			// the same UIDs and nothing else changed.
			s, err = Open(root, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			again := checkFirstOpen(t, s, md, want, before, time.Now)
			if !slices.EqualFunc(first, again, func(a, b mailstore.Message) bool {
				return a.UID == b.UID && a.ModSeq == b.ModSeq && a.SaveDate == b.SaveDate
			}) {
				t.Errorf("after a restart the messages changed:\n%v\n%v", first, again)
			}
		})
	}
}

// checkFirstOpen opens user fay's INBOX on s and checks its index and
// its view against want (saved between before and now()); it returns the
// view's messages.
func checkFirstOpen(t *testing.T, s *Store, md string, want []wantMsg, before int64, now func() time.Time) []mailstore.Message {
	t.Helper()
	ctx := context.Background()
	u, err := s.User(ctx, "fay")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	mb, err := u.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	after := now().UnixNano()
	snap, err := mb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Messages.Len() != len(want) {
		t.Fatalf("%d messages, want %d", snap.Messages.Len(), len(want))
	}
	h := mb.(*mailboxHandle)
	var uidValidity uint32
	newFiles := 0
	for _, f := range firstOpenFiles() {
		if f.sub == "new" {
			newFiles++
		}
	}
	err = h.u.db.View(func(tx *bolt.Tx) error {
		id, ok := mailboxID(tx, "INBOX")
		if !ok {
			return fmt.Errorf("no INBOX in the index")
		}
		m, err := h.u.loadMbox(tx, id)
		if err != nil {
			return err
		}
		uidValidity = m.meta.uidValidity
		var unseen, deleted uint32
		var size int64
		for i, w := range want {
			r, ok, err := m.get(w.uid, true)
			if err != nil || !ok {
				return fmt.Errorf("UID %d (%s): no record (%v)", w.uid, w.file, err)
			}
			modSeq := uint64(i) + 2 // a new mailbox is at 1; each message takes one
			switch {
			case r.file != w.file:
				t.Errorf("UID %d: file %q, want %q", w.uid, r.file, w.file)
			case r.internal != w.internal:
				t.Errorf("UID %d (%s): INTERNALDATE %d, want the mtime %d", w.uid, w.file, r.internal, w.internal)
			case r.size != w.size:
				t.Errorf("UID %d (%s): size %d, want %d", w.uid, w.file, r.size, w.size)
			case r.flags.sys != w.sys || len(r.flags.keywords) != 0:
				t.Errorf("UID %d (%s): flags %08b %v, want %08b", w.uid, w.file, r.flags.sys, r.flags.keywords, w.sys)
			case r.modSeq != modSeq:
				t.Errorf("UID %d (%s): MODSEQ %d, want %d", w.uid, w.file, r.modSeq, modSeq)
			case r.save < before || r.save > after:
				t.Errorf("UID %d (%s): SAVEDATE %d not within the open (%d-%d)", w.uid, w.file, r.save, before, after)
			case r.emailID != uint64(m.meta.uidValidity)<<32|uint64(w.uid):
				t.Errorf("UID %d: EMAILID %x", w.uid, r.emailID)
			}
			base, _ := splitInfo(w.file)
			if v := m.files.Get([]byte(base)); beUint32(v) != w.uid {
				t.Errorf("UID %d: base %q maps to %v", w.uid, base, v)
			}
			// The files of new/ come in one by one, with their MODSEQ
			// entries; cur/'s come in bulk, without (modseqlog.go).
			k, _ := m.ms.Cursor().Seek(seqKey(modSeq, w.uid))
			if logged := bytes.Equal(k, seqKey(modSeq, w.uid)); logged != (int(w.uid) <= newFiles) {
				t.Errorf("UID %d: MODSEQ entry (%d, %d) %v, want %v", w.uid, modSeq, w.uid, logged, !logged)
			}
			if _, err := os.Lstat(filepath.Join(md, "cur", w.file)); err != nil {
				t.Errorf("UID %d: %v", w.uid, err)
			}
			if r.flags.sys&flagSeen == 0 {
				unseen++
			}
			if r.flags.sys&flagDeleted != 0 {
				deleted++
			}
			size += r.size
			if sm, rm := snap.Messages.At(i), r.message(r.flags.list()); !sameMessage(sm, rm) {
				t.Errorf("UID %d: view %+v, record %+v", w.uid, sm, rm)
			}
		}
		for _, b := range []struct {
			name string
			b    *bolt.Bucket
			n    int
		}{{"records", m.msgs, len(want)}, {"base names", m.files, len(want)}, {"MODSEQ entries", m.ms, newFiles}} {
			if n := b.b.Stats().KeyN; n != b.n {
				t.Errorf("%s: %d keys, want %d", b.name, n, b.n)
			}
		}
		if m.meta.unloggedModSeq != m.meta.highestModSeq {
			t.Errorf("unlogged up to MODSEQ %d, want %d (all)", m.meta.unloggedModSeq, m.meta.highestModSeq)
		}
		list, ok := m.listFromChunks()
		if !ok || !slices.EqualFunc(list.Messages(), snap.Messages.Messages(), sameMessage) {
			t.Errorf("the packed list (current %v) is not the records", ok)
		}
		n := uint32(len(want))
		if got := [...]any{m.meta.messages, m.meta.unseen, m.meta.deleted, m.meta.size, m.meta.uidNext, m.meta.highestModSeq}; got != [...]any{n, unseen, deleted, size, n + 1, uint64(n) + 1} {
			t.Errorf("mailbox counters (messages, unseen, deleted, size, UIDNEXT, HIGHESTMODSEQ) %v, want %v", got, [...]any{n, unseen, deleted, size, n + 1, uint64(n) + 1})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(filepath.Join(md, "new")); err != nil || len(ents) != 0 {
		t.Errorf("new/ after the open: %d files (%v)", len(ents), err)
	}
	if snap.UIDValidity != uidValidity {
		t.Errorf("view's UIDVALIDITY %d, index %d", snap.UIDValidity, uidValidity)
	}
	checkChangesSince(t, mb, snap.Messages.Messages(), nil)
	return snap.Messages.Messages()
}

// sameMessage compares two messages field by field.
func sameMessage(a, b mailstore.Message) bool {
	return a.UID == b.UID && a.ModSeq == b.ModSeq && a.Size == b.Size && a.InternalDate == b.InternalDate &&
		a.SaveDate == b.SaveDate && slices.Equal(a.Flags, b.Flags)
}
