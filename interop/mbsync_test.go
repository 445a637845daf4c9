package interop

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const (
	// mbsyncTotal messages end up on both sides: mbsyncLocal start in the
	// local Maildir and the rest on the server, so that the first sync
	// copies in both directions.
	mbsyncTotal = 1000
	mbsyncLocal = 990
)

// maildirFlags maps Maildir info letters to IMAP flags, as mbsync does.
// The test never sets D or T, but compares them too, so that a \Draft or
// \Deleted appearing from nowhere on either side fails it.
var maildirFlags = map[byte]imap.Flag{
	'D': imap.FlagDraft,
	'F': imap.FlagFlagged,
	'R': imap.FlagAnswered,
	'S': imap.FlagSeen,
	'T': imap.FlagDeleted,
}

// flagSet is a message's flags as Maildir letters in ASCII order ("FS"),
// which is both the Maildir spelling and easy to compare.
type flagSet string

func (f flagSet) has(c byte) bool { return strings.IndexByte(string(f), c) >= 0 }

func (f flagSet) with(c byte, on bool) flagSet {
	var b []byte
	for l := range maildirFlags {
		if (l == c && on) || (l != c && f.has(l)) {
			b = append(b, l)
		}
	}
	slices.Sort(b)
	return flagSet(b)
}

func (f flagSet) imap() []imap.Flag {
	var out []imap.Flag
	for i := range len(f) {
		out = append(out, maildirFlags[f[i]])
	}
	return out
}

func flagSetOf(flags []imap.Flag) flagSet {
	var f flagSet
	for l, fl := range maildirFlags {
		if hasFlag(flags, fl) {
			f = f.with(l, true)
		}
	}
	return f
}

// mbsyncID is the Message-ID (without brackets) of message i.
func mbsyncID(i int) string { return fmt.Sprintf("mb-%04d@interop.test", i) }

// mbsyncMessage is message i of the synced mailbox.
func mbsyncMessage(i int) string {
	return simpleMessage(fmt.Sprintf("mb-%04d", i), fmt.Sprintf("mbsync %d", i), "Body.")
}

// initialFlags gives message i a mix of flags, some none at all.
func initialFlags(i int) flagSet {
	var f flagSet
	f = f.with('S', i%3 == 0)
	f = f.with('F', i%5 == 0)
	f = f.with('R', i%11 == 0)
	return f
}

// TestMbsync syncs a Maildir with a Dormouse account both ways with mbsync
// (isync): a first sync that copies 990 messages up and 10 down, then flag
// changes on both sides (local by renaming Maildir files, remote by IMAP
// STORE), then a second sync; both sides must end with the same 1,000
// messages and the same flags. mbsync compresses (COMPRESS=DEFLATE).
func TestMbsync(t *testing.T) {
	mbsync := requireTool(t, "mbsync")
	srv := startServer(t)
	dir := t.TempDir()
	inbox := filepath.Join(dir, "local", "INBOX")

	want := make(map[string]flagSet, mbsyncTotal) // Message-ID → flags
	for i := range mbsyncTotal {
		want[mbsyncID(i)] = initialFlags(i)
	}

	// The local side: small messages written straight into cur/.
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(inbox, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i := range mbsyncLocal {
		name := fmt.Sprintf("1764300000.M%dP1.interop:2,%s", i, initialFlags(i))
		if err := os.WriteFile(filepath.Join(inbox, "cur", name), []byte(mbsyncMessage(i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// The server side: the rest, by APPEND.
	c := dialGoIMAP(t, srv, "mbsync-checker", nil)
	for i := mbsyncLocal; i < mbsyncTotal; i++ {
		appendMsg(t, c, "INBOX", mbsyncMessage(i), &imap.AppendOptions{Flags: initialFlags(i).imap()})
	}

	cfg := filepath.Join(dir, "mbsyncrc")
	writeMbsyncConfig(t, cfg, srv, filepath.Join(dir, "local"), false)
	mbsyncLog := newTranscript(t, "mbsync")
	runMbsync(t, mbsync, cfg, dir, mbsyncLog)
	assertMailbox(t, "after the first sync", want, readMaildir(t, inbox), readIMAP(t, c))

	// Flag changes on both sides, on different messages so that no
	// conflict resolution is involved.
	changedLocal := changeMaildirFlags(t, inbox, func(i int, f flagSet) flagSet {
		switch i % 10 {
		case 1:
			return f.with('F', !f.has('F'))
		case 2:
			return f.with('S', !f.has('S'))
		}
		return f
	})
	for id, f := range changedLocal {
		want[id] = f
	}
	uids := serverUIDs(t, c)
	for i := range mbsyncTotal {
		id := mbsyncID(i)
		var op imap.StoreFlagsOp
		var flag imap.Flag
		switch i % 10 {
		case 3:
			op, flag = imap.StoreFlagsAdd, imap.FlagFlagged
			want[id] = want[id].with('F', true)
		case 4:
			op, flag = imap.StoreFlagsAdd, imap.FlagAnswered
			want[id] = want[id].with('R', true)
		case 5:
			op, flag = imap.StoreFlagsDel, imap.FlagSeen
			want[id] = want[id].with('S', false)
		default:
			continue
		}
		if err := c.Store(imap.UIDSetNum(uids[id]), &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{flag}}, nil).Close(); err != nil {
			t.Fatalf("UID STORE %d (%s) %v: %v", uids[id], id, flag, err)
		}
	}

	runMbsync(t, mbsync, cfg, dir, mbsyncLog)
	assertMailbox(t, "after flag changes on both sides and a second sync", want, readMaildir(t, inbox), readIMAP(t, c))
	// isync 1.4.4 turns COMPRESS on by itself when offered; it flushes
	// with Z_PARTIAL_FLUSH, on which Go's inflaters stall.
	if n := srv.metric(t, "dormouse_imap_commands_total,command=COMPRESS,result=ok"); n != 2 {
		t.Errorf("COMPRESS DEFLATE ok = %v, want 2: mbsync did not compress", n)
	}
}

// writeMbsyncConfig writes an mbsync config syncing the server's INBOX
// with the Maildir under local, or with every mailbox when all is set
// (folders nested as on the server; only the local side is created).
// mbsync wants blank lines between sections.
func writeMbsyncConfig(t *testing.T, path string, srv *server, local string, all bool) {
	t.Helper()
	channel := `
Channel interop
Far :remote:INBOX
Near :local:INBOX
Create Both
`
	if all {
		channel = `SubFolders Verbatim

Channel interop
Far :remote:
Near :local:
Patterns *
Create Near
`
	}
	cfg := fmt.Sprintf(`IMAPAccount dormouse
Host %s
Port %s
User %s
Pass %q
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account dormouse

MaildirStore local
Path %s/
Inbox %s/INBOX
%sSync All
Expunge None
SyncState *
`, srv.host, srv.port, srv.user, srv.pass, local, local, channel)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runMbsync runs one sync of every channel in cfg; home isolates mbsync
// from the real user's files. mbsync's network debug log (-Dn: every IMAP
// command and response) goes to log, which is printed if the test fails.
func runMbsync(t *testing.T, mbsync, cfg, home string, log *transcript) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(mbsync, "-Dn", "-c", cfg, "-a")
	cmd.Env = append(os.Environ(), "HOME="+home)
	out := runScript(t, 90*time.Second, cmd)
	fmt.Fprintf(log, "=== mbsync -Dn -a (%v)\n%s", time.Since(start).Round(time.Millisecond), out)
	t.Logf("mbsync -a took %v", time.Since(start).Round(time.Millisecond))
}

// readMaildir returns Message-ID → flags for every message in a Maildir.
func readMaildir(t *testing.T, md string) map[string][]flagSet {
	t.Helper()
	got := make(map[string][]flagSet)
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(md, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(md, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			id := headerMessageID(string(data))
			var f flagSet
			if _, info, ok := strings.Cut(e.Name(), ":2,"); ok {
				for i := range len(info) {
					if _, known := maildirFlags[info[i]]; known {
						f = f.with(info[i], true)
					}
				}
			}
			got[id] = append(got[id], f)
		}
	}
	return got
}

// headerMessageID finds the Message-ID header of a message written by
// simpleMessage, without its angle brackets. mbsync stores messages in the
// Maildir with LF line ends, so CRs are optional.
func headerMessageID(msg string) string {
	for line := range strings.SplitSeq(msg, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Message-ID: "); ok {
			return strings.Trim(v, "<>")
		}
	}
	return "(no Message-ID)"
}

// readIMAP returns Message-ID → flags for every message in the server's
// INBOX, read with go-imap.
func readIMAP(t *testing.T, c *imapclient.Client) map[string][]flagSet {
	t.Helper()
	got := make(map[string][]flagSet)
	for _, b := range fetchAll(t, c) {
		got[b.Envelope.MessageID] = append(got[b.Envelope.MessageID], flagSetOf(b.Flags))
	}
	return got
}

// serverUIDs maps Message-ID to UID in the server's INBOX.
func serverUIDs(t *testing.T, c *imapclient.Client) map[string]imap.UID {
	t.Helper()
	uids := make(map[string]imap.UID)
	for _, b := range fetchAll(t, c) {
		uids[b.Envelope.MessageID] = b.UID
	}
	return uids
}

// fetchAll re-selects INBOX (to see everything mbsync did) and fetches
// UID, FLAGS and ENVELOPE of every message.
func fetchAll(t *testing.T, c *imapclient.Client) []*imapclient.FetchMessageBuffer {
	t.Helper()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("SELECT INBOX: %v", err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	bufs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatalf("FETCH 1:* (UID FLAGS ENVELOPE): %v", err)
	}
	if len(bufs) != int(sel.NumMessages) {
		t.Errorf("FETCH 1:* returned %d messages, SELECT said %d EXISTS", len(bufs), sel.NumMessages)
	}
	for _, b := range bufs {
		if b.Envelope == nil {
			t.Fatalf("FETCH 1:*: message %d (UID %d) without ENVELOPE", b.SeqNum, b.UID)
		}
	}
	return bufs
}

// changeMaildirFlags renames files in the Maildir to the flags change
// returns for them (message index from the Message-ID), moving new/ files
// to cur/ as a mail reader does, and returns the new flags of the
// messages it changed.
func changeMaildirFlags(t *testing.T, md string, change func(i int, f flagSet) flagSet) map[string]flagSet {
	t.Helper()
	changed := make(map[string]flagSet)
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(md, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			old := filepath.Join(md, sub, e.Name())
			data, err := os.ReadFile(old)
			if err != nil {
				t.Fatal(err)
			}
			id := headerMessageID(string(data))
			var i int
			if _, err := fmt.Sscanf(id, "mb-%04d@", &i); err != nil {
				t.Fatalf("%s: unexpected Message-ID %q", old, id)
			}
			base, info, _ := strings.Cut(e.Name(), ":2,")
			var f flagSet
			var other []byte // letters this test does not model, kept as they are
			for j := range len(info) {
				if _, known := maildirFlags[info[j]]; known {
					f = f.with(info[j], true)
				} else {
					other = append(other, info[j])
				}
			}
			nf := change(i, f)
			if nf == f {
				continue
			}
			letters := []byte(string(nf) + string(other))
			slices.Sort(letters)
			if err := os.Rename(old, filepath.Join(md, "cur", base+":2,"+string(letters))); err != nil {
				t.Fatal(err)
			}
			changed[id] = nf
		}
	}
	return changed
}

// assertMailbox checks that both sides hold exactly the wanted messages,
// once each, with the wanted flags.
func assertMailbox(t *testing.T, when string, want map[string]flagSet, local, remote map[string][]flagSet) {
	t.Helper()
	for _, side := range []struct {
		name string
		got  map[string][]flagSet
	}{{"local Maildir", local}, {"Dormouse INBOX", remote}} {
		n := 0
		var bad []string
		for _, fs := range side.got {
			n += len(fs)
		}
		if n != len(want) {
			t.Errorf("%s: %s holds %d messages, want %d", when, side.name, n, len(want))
		}
		for _, id := range slices.Sorted(maps.Keys(want)) {
			fs := side.got[id]
			switch {
			case len(fs) == 0:
				bad = append(bad, id+": missing")
			case len(fs) > 1:
				bad = append(bad, fmt.Sprintf("%s: %d copies", id, len(fs)))
			case fs[0] != want[id]:
				bad = append(bad, fmt.Sprintf("%s: flags %q, want %q", id, fs[0], want[id]))
			}
		}
		for id := range side.got {
			if _, ok := want[id]; !ok {
				bad = append(bad, id+": unexpected")
			}
		}
		if len(bad) > 0 {
			const show = 20
			t.Errorf("%s: %s differs in %d messages; first ones:\n  %s", when, side.name, len(bad), strings.Join(bad[:min(show, len(bad))], "\n  "))
		}
	}
}

// TestMbsyncHibernating runs mbsync again and again against a server that
// hibernates a session after 1 ms without a command, with a delivery
// before each run and a local flag change before every other one, until
// mbsync's compressed sessions have slept and been woken by their client
// at least 100 times (mbsync, isync 1.4.4, turns COMPRESS on and flushes
// with zlib's Z_PARTIAL_FLUSH, so each sleep keeps pending bits of its
// stream). Each delivered message must arrive in the Maildir whole, and at
// the end both sides hold the same messages with the same flags.
func TestMbsyncHibernating(t *testing.T) {
	mbsync := requireTool(t, "mbsync")
	srv := startServer(t, hibernating)
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	inbox := filepath.Join(local, "INBOX")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(inbox, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "mbsyncrc")
	writeMbsyncConfig(t, cfg, srv, local, false)
	mbsyncLog := newTranscript(t, "mbsync")
	c := dialGoIMAP(t, srv, "mbsync-checker", nil)

	const want, maxRuns = 100, 400
	wanted := make(map[string]flagSet)
	slept := func() (hibernations, wakes float64) {
		return srv.metric(t, "dormouse_imap_hibernations_by_transport_total,transport=compressed"),
			srv.metric(t, "dormouse_imap_wakes_total,cause=client")
	}
	runs := 0
	for ; runs < maxRuns; runs++ {
		if h, w := slept(); h >= want && w >= want {
			break
		}
		id := fmt.Sprintf("mbh-%04d", runs)
		body := fmt.Sprintf("Body of run %d: %s", runs, strings.Repeat("abc ", runs%50))
		srv.deliver(t, simpleMessage(id, "mbsync run "+id, body))
		wanted[id+"@interop.test"] = ""
		if runs%2 == 1 {
			// Flag the previous run's message here: mbsync sends a
			// UID STORE for it.
			prev := fmt.Sprintf("mbh-%04d@interop.test", runs-1)
			flagLocal(t, inbox, prev, 'F')
			wanted[prev] = wanted[prev].with('F', true)
		}
		runMbsync(t, mbsync, cfg, dir, mbsyncLog)
		if got := readMaildirBody(t, inbox, id+"@interop.test"); !strings.Contains(got, body) {
			t.Fatalf("run %d: the delivered message in the Maildir is %q, want its body %q", runs, got, body)
		}
	}
	h, w := slept()
	kept := "dormouse_imap_hibernation_kept_bytes,transport=compressed"
	t.Logf("%d mbsync runs: %v compressed hibernations, %v client wakes, %.0f bytes kept per compressed sleeper on average",
		runs, h, w, srv.metric(t, kept+"_sum")/srv.metric(t, kept+"_count"))
	if h < want || w < want {
		t.Fatalf("after %d runs: %v compressed hibernations and %v client wakes, want ≥ %d each", runs, h, w, want)
	}
	if n := srv.metric(t, "dormouse_imap_commands_total,command=COMPRESS,result=ok"); n < float64(runs) {
		t.Errorf("COMPRESS DEFLATE ok = %v after %d runs: mbsync did not compress", n, runs)
	}
	assertMailbox(t, "after the runs", wanted, readMaildir(t, inbox), readIMAP(t, c))
}

// maildirFile returns the path of the message with Message-ID id (no
// brackets) in a Maildir.
func maildirFile(t *testing.T, md, id string) string {
	t.Helper()
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(md, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			p := filepath.Join(md, sub, e.Name())
			if data, err := os.ReadFile(p); err == nil && headerMessageID(string(data)) == id {
				return p
			}
		}
	}
	t.Fatalf("%s: no message %s", md, id)
	return ""
}

// readMaildirBody returns the message with Message-ID id in a Maildir.
func readMaildirBody(t *testing.T, md, id string) string {
	t.Helper()
	data, err := os.ReadFile(maildirFile(t, md, id))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// flagLocal sets flag letter l on the message with Message-ID id in a
// Maildir, moving it to cur/ as a mail reader does.
func flagLocal(t *testing.T, md, id string, l byte) {
	t.Helper()
	old := maildirFile(t, md, id)
	base, info, _ := strings.Cut(filepath.Base(old), ":2,")
	letters := []byte(info)
	if strings.IndexByte(info, l) < 0 {
		letters = append(letters, l)
	}
	slices.Sort(letters)
	if err := os.Rename(old, filepath.Join(md, "cur", base+":2,"+string(letters))); err != nil {
		t.Fatal(err)
	}
}
