package interop

import (
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/internal/testserver"
)

// dovecotConf is a private Dovecot 2.3 configuration: nothing is read from
// /etc/dovecot, IMAP on one loopback port without TLS, users from a
// passwd-file, mail in Maildir++ under {{DIR}}/users/USER/Maildir owned
// by nobody and its group (Dovecot refuses mail access as root).
const dovecotConf = `base_dir = {{DIR}}/run
state_dir = {{DIR}}/state
log_path = {{DIR}}/dovecot.log
instance_name = dormouse-takeover-{{PORT}}
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
first_valid_gid = 1
default_internal_user = nobody
default_login_user = nobody
default_internal_group = {{GROUP}}
mail_location = maildir:{{DIR}}/users/%u/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {{DIR}}/passwd
}
userdb {
  driver = static
  args = uid=nobody gid={{GROUP}} home={{DIR}}/users/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{PORT}}
  }
  inet_listener imaps {
    port = 0
  }
}
service stats {
  unix_listener stats-reader {
    user = nobody
  }
  unix_listener stats-writer {
    user = nobody
  }
}
`

// takeoverBoxes are the mailboxes Dovecot serves at first, with "/"
// between levels, and how many messages each gets.
var takeoverBoxes = []struct {
	name string
	n    int
}{{"INBOX", 340}, {"Sent", 90}, {"Lists/go", 120}, {"Entwürfe", 20}}

// takeoverFlags gives message i of a mailbox its first flags: system
// flags and keywords, some none at all.
func takeoverFlags(i int) []imap.Flag {
	var f []imap.Flag
	for _, c := range []struct {
		on   bool
		flag imap.Flag
	}{
		{i%2 == 0, imap.FlagSeen}, {i%7 == 0, imap.FlagFlagged}, {i%5 == 0, imap.FlagAnswered},
		{i%3 == 0, "$Label1"}, {i%4 == 0, "work"}, {i%10 == 0, "todo"},
	} {
		if c.on {
			f = append(f, c.flag)
		}
	}
	return f
}

// TestDovecotTakeover: Dovecot (Debian's dovecot-imapd, a private
// instance) serves a Maildir with 570 messages in four mailboxes (one
// named in modified UTF-7 on disk), flags and keywords; mbsync, offlineimap and interimap (QRESYNC) sync it, flags
// and keywords change on the server, they sync again. Dovecot stops and
// Dormouse starts on the same Maildir: every mailbox must keep its
// UIDVALIDITY, UIDNEXT, every UID with its flags and keywords, the
// subscriptions, and a HIGHESTMODSEQ no lower than Dovecot's; then each
// client syncs with Dormouse and must download no message again, make no
// duplicate and find no flag or keyword to change. Dovecot runs as root
// (it switches to nobody for mail); without root or one of the programs
// the test skips, or fails under REQUIRE_INTEROP=1.
func TestDovecotTakeover(t *testing.T) {
	dovecotBin := "/usr/sbin/dovecot"
	if _, err := os.Stat(dovecotBin); err != nil {
		dovecotBin = requireTool(t, "dovecot")
	}
	mbsync := requireTool(t, "mbsync")
	offlineimap := requireTool(t, "offlineimap")
	interimap := requireTool(t, "interimap")
	if os.Geteuid() != 0 {
		missingClient(t, "a private Dovecot instance must be started as root")
	}
	start := time.Now()

	// interimap syncs two IMAP servers: its local side is a Dormouse of
	// its own, user bob, there all along.
	local := testserver.Start(t)
	localSrv := serverAt(t, local.Addr, local.Bob)

	dc := startDovecot(t, dovecotBin, "")
	dcSrv := serverAt(t, dc.addr, testserver.User{Name: "alice", Password: "alice-secret"})
	fillDovecot(t, dcSrv)

	dir := t.TempDir()
	clients := []*syncClient{
		newMbsyncClient(t, mbsync, dir),
		newOfflineIMAPClient(t, offlineimap, dir),
		newInterimapClient(t, interimap, dir, localSrv),
	}
	for _, c := range clients {
		c.sync(t, dcSrv, "first sync with Dovecot")
	}
	// Changes on the server that the clients learn by syncing, so that
	// Dovecot's MODSEQs move past the appends.
	changeOnServer(t, dcSrv)
	for _, c := range clients {
		if n := c.sync(t, dcSrv, "second sync with Dovecot"); n != 0 {
			t.Fatalf("%s downloaded %d messages on its second sync with Dovecot, want 0", c.name, n)
		}
	}
	before := snapshotServer(t, dcSrv)
	localBefore := make([]map[string]map[string][]string, len(clients))
	for i, c := range clients {
		localBefore[i] = c.local(t)
	}
	dc.stop(t)
	t.Logf("Dovecot served and 3 clients synced twice in %v", time.Since(start).Round(time.Millisecond))

	// Dormouse starts on the same Maildir.
	dm := testserver.Start(t)
	if err := os.MkdirAll(filepath.Join(dm.DataDir, "users"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dc.dir, "users", "alice"), filepath.Join(dm.DataDir, "users", "alice")); err != nil {
		t.Fatal(err)
	}
	dmSrv := serverAt(t, dm.Addr, dm.Alice)
	after := snapshotServer(t, dmSrv)
	compareServers(t, "Dovecot", before, "Dormouse", after, true)

	resyncUnchanged(t, clients, localBefore, dmSrv, after, "Dormouse")
	if t.Failed() {
		return
	}

	// Back to Dovecot: mail arrives and flags change while Dormouse
	// serves, the clients sync, Dormouse stops and Dovecot starts on the
	// Maildir again. Dormouse kept each dovecot-uidlist current, so Dovecot
	// must show the messages under the UIDs the clients know.
	added := changeOnDormouse(t, dmSrv, filepath.Join(dm.DataDir, "users", "alice", "Maildir"))
	for _, c := range clients {
		if n := c.sync(t, dmSrv, "sync with Dormouse after new mail"); n != added {
			t.Errorf("%s downloaded %d messages, want the %d new ones", c.name, n, added)
		}
	}
	served := snapshotServer(t, dmSrv)
	for i, c := range clients {
		localBefore[i] = c.local(t)
	}
	dm.Close()
	// The operator's one step back: folder names Dormouse keeps in UTF-8
	// go back to modified UTF-7, as Dovecot names them.
	renameFoldersToMUTF7(t, filepath.Join(dm.DataDir, "users", "alice", "Maildir"))
	dc2 := startDovecot(t, dovecotBin, filepath.Join(dm.DataDir, "users", "alice"))
	dc2Srv := serverAt(t, dc2.addr, dm.Alice)
	back := snapshotServer(t, dc2Srv)
	// Dovecot counts MODSEQs from its own index, which did not see what
	// Dormouse did: its HIGHESTMODSEQ may be lower.
	compareServers(t, "Dormouse", served, "Dovecot again", back, false)
	resyncUnchanged(t, clients, localBefore, dc2Srv, back, "Dovecot again")
	t.Logf("takeover test took %v", time.Since(start).Round(time.Millisecond))
}

// renameFoldersToMUTF7 renames the Maildir++ folders of md whose names
// are not ASCII to their modified UTF-7 spelling, as the operator does
// before Dovecot serves a Maildir Dormouse served (docs: "Operations:
// Dovecot takeover").
func renameFoldersToMUTF7(t *testing.T, md string) {
	t.Helper()
	ents, err := os.ReadDir(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || !strings.HasPrefix(n, ".") {
			continue
		}
		levels := strings.Split(n[1:], ".")
		for i, l := range levels {
			levels[i] = imapwire.EncodeMUTF7(l)
		}
		if to := "." + strings.Join(levels, "."); to != n {
			if err := os.Rename(filepath.Join(md, n), filepath.Join(md, to)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// resyncUnchanged syncs each client with srv, whose state is st, and
// checks that it downloads nothing, duplicates nothing and finds every
// message's flags (and keywords, where it keeps them) as they are on srv.
func resyncUnchanged(t *testing.T, clients []*syncClient, localBefore []map[string]map[string][]string, srv *server, st *serverState, name string) {
	t.Helper()
	for i, c := range clients {
		n := c.sync(t, srv, "first sync with "+name)
		got := c.local(t)
		dups, diffs := compareLocal(localBefore[i], got)
		flagDiffs := compareWithServer(st, got, c.keywords)
		t.Logf("%s, first sync with %s: %d messages downloaded again, %d duplicates, %d local changes, %d flag or keyword differences with the server (%d messages kept)",
			c.name, name, n, dups, len(diffs), len(flagDiffs), countMessages(got))
		if n != 0 {
			t.Errorf("%s downloaded %d messages again from %s", c.name, n, name)
		}
		if dups != 0 || len(diffs) != 0 {
			t.Errorf("%s: %d duplicates; local copy changed in %d messages: %s", c.name, dups, len(diffs), firstOf(diffs))
		}
		if len(flagDiffs) != 0 {
			t.Errorf("%s: %d flag or keyword differences with %s: %s", c.name, len(flagDiffs), name, firstOf(flagDiffs))
		}
	}
}

// changeOnDormouse appends messages and changes flags and keywords, as
// the user's other devices would, and an MDA delivers a file into the
// INBOX of Maildir md whose name sorts before the others (Dovecot numbers
// files it finds in name order: only the uidlist makes it give this one
// the UID Dormouse gave it). It returns how many messages arrived.
func changeOnDormouse(t *testing.T, srv *server, md string) int {
	t.Helper()
	tmp := filepath.Join(md, "tmp", "1000000000.M1P1.mda")
	writeFile(t, tmp, takeoverMessage("INBOX", 9999))
	c := dialGoIMAP(t, srv, "dormouse-changer", nil)
	defer func() { c.Logout().Wait() }()
	enableRev2(t, c)
	added := 0
	for _, b := range takeoverBoxes {
		for i := b.n; i < b.n+3; i++ {
			appendMsg(t, c, b.name, takeoverMessage(b.name, i), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, "todo", "dormouse"}})
			added++
		}
		if _, err := c.Select(b.name, nil).Wait(); err != nil {
			t.Fatalf("SELECT %s: %v", b.name, err)
		}
		storeFlags(t, c, everyNth(3, 13, b.n), imap.StoreFlagsAdd, imap.FlagFlagged, "urgent")
		storeFlags(t, c, everyNth(0, 6, b.n), imap.StoreFlagsDel, "$Label1")
	}
	if err := os.Rename(tmp, filepath.Join(md, "new", filepath.Base(tmp))); err != nil {
		t.Fatal(err)
	}
	return added + 1
}

// serverAt describes an IMAP server for the helpers that take a *server.
func serverAt(t *testing.T, addr string, u testserver.User) *server {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return &server{addr: addr, host: host, port: port, user: u.Name, pass: u.Password}
}

// dovecotInstance is a running private Dovecot.
type dovecotInstance struct {
	addr, dir string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// startDovecot starts Dovecot in the foreground with its configuration,
// state and mail in a fresh folder (searchable by nobody, so not
// t.TempDir) and user alice, whose folder (Maildir and all) is moved in
// from userDir unless that is ""; it is stopped when the test ends if the
// test did not stop it.
func startDovecot(t *testing.T, bin, userDir string) *dovecotInstance {
	t.Helper()
	dir, err := os.MkdirTemp("", "dormouse-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Dovecot's children may still be leaving their sockets and logs
		// for a moment after the master (stopped first) exited.
		var err error
		for range 50 {
			if err = os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("remove %s: %v", dir, err)
	})
	nobody, err := user.Lookup("nobody")
	if err != nil {
		missingClient(t, "no user nobody for Dovecot's mail: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	group, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		missingClient(t, "no group for nobody: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"run", "state", "users"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "users"), uid, gid); err != nil {
		t.Fatal(err)
	}
	if userDir != "" {
		home := filepath.Join(dir, "users", "alice")
		if err := os.Rename(userDir, home); err != nil {
			t.Fatal(err)
		}
		// What Dormouse wrote is root's: give it to the mail user.
		err := filepath.WalkDir(home, func(path string, _ os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, uid, gid)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte("alice:{PLAIN}alice-secret::::::\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeLoopbackAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "dovecot.conf")
	r := strings.NewReplacer("{{DIR}}", dir, "{{PORT}}", port, "{{GROUP}}", group.Name)
	if err := os.WriteFile(conf, []byte(r.Replace(dovecotConf)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &dovecotInstance{addr: addr, dir: dir, exited: make(chan struct{})}
	d.cmd = exec.Command(bin, "-F", "-c", conf)
	out := &strings.Builder{}
	d.cmd.Stdout, d.cmd.Stderr = out, out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() { d.stop(t) })
	if err := waitListening(addr, d.exited, time.Minute); err != nil {
		t.Fatalf("dovecot: %v\n%s\n%s", err, out.String(), d.log())
	}
	return d
}

// stop stops Dovecot (SIGTERM to the master, which stops its children)
// and waits for it.
func (d *dovecotInstance) stop(t *testing.T) {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		t.Errorf("dovecot did not stop on SIGTERM within 30 s\n%s", d.log())
	}
}

func (d *dovecotInstance) log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dovecot.log"))
	return tail(string(b))
}

// takeoverID is the Message-ID (without brackets) of message i of box.
func takeoverID(box string, i int) string {
	label := strings.Map(func(r rune) rune {
		if r < 'A' || r > 'z' {
			return '-'
		}
		return r
	}, box)
	return fmt.Sprintf("dt-%s-%04d@interop.test", label, i)
}

// takeoverMessage is message i of box (its Message-ID takeoverID).
func takeoverMessage(box string, i int) string {
	return simpleMessage(strings.TrimSuffix(takeoverID(box, i), "@interop.test"), fmt.Sprintf("%s %d", box, i), "Body.")
}

// everyNth returns the UIDs first+1, first+1+step, ... up to n: the
// messages first, first+step, ... as appended to a fresh mailbox.
func everyNth(first, step, n int) imap.UIDSet {
	var s imap.UIDSet
	for i := first; i < n; i += step {
		s.AddNum(imap.UID(i + 1))
	}
	return s
}

// storeFlags runs UID STORE (silent) on the selected mailbox.
func storeFlags(t *testing.T, c *imapclient.Client, uids imap.UIDSet, op imap.StoreFlagsOp, flags ...imap.Flag) {
	t.Helper()
	if err := c.Store(uids, &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
		t.Fatalf("UID STORE %v %v: %v", uids, flags, err)
	}
}

// fillDovecot creates the mailboxes, subscribes them, appends the
// messages with their flags and expunges a few, so that the uidlists have
// gaps.
func fillDovecot(t *testing.T, srv *server) {
	t.Helper()
	c := dialGoIMAP(t, srv, "dovecot-filler", nil)
	delim := listDelim(t, c)
	for _, b := range takeoverBoxes {
		name := strings.ReplaceAll(b.name, "/", delim)
		if b.name != "INBOX" {
			if err := c.Create(name, nil).Wait(); err != nil {
				t.Fatalf("CREATE %s: %v", name, err)
			}
		}
		if err := c.Subscribe(name).Wait(); err != nil {
			t.Fatalf("SUBSCRIBE %s: %v", name, err)
		}
		for i := range b.n {
			appendMsg(t, c, name, takeoverMessage(b.name, i), &imap.AppendOptions{Flags: takeoverFlags(i)})
		}
		if _, err := c.Select(name, nil).Wait(); err != nil {
			t.Fatalf("SELECT %s: %v", name, err)
		}
		gone := everyNth(7, 50, b.n)
		storeFlags(t, c, gone, imap.StoreFlagsAdd, imap.FlagDeleted)
		if err := c.UIDExpunge(gone).Close(); err != nil {
			t.Fatalf("UID EXPUNGE in %s: %v", name, err)
		}
	}
	c.Logout().Wait()
}

// changeOnServer changes flags and keywords of some messages on the
// server, by UID STORE, as another device of the user would.
func changeOnServer(t *testing.T, srv *server) {
	t.Helper()
	c := dialGoIMAP(t, srv, "dovecot-changer", nil)
	delim := listDelim(t, c)
	for _, b := range takeoverBoxes {
		name := strings.ReplaceAll(b.name, "/", delim)
		if _, err := c.Select(name, nil).Wait(); err != nil {
			t.Fatalf("SELECT %s: %v", name, err)
		}
		storeFlags(t, c, everyNth(1, 9, b.n), imap.StoreFlagsAdd, imap.FlagSeen)
		storeFlags(t, c, everyNth(2, 8, b.n), imap.StoreFlagsAdd, "later")
		storeFlags(t, c, everyNth(0, 12, b.n), imap.StoreFlagsDel, "work")
	}
	c.Logout().Wait()
}

// enableRev2 enables IMAP4rev2 when the server offers it: go-imap
// v2.0.0-beta.8 then sends mailbox names in UTF-8 (as it does as soon as
// the capability is offered, enabled or not), which a server only
// accepts once it is enabled.
func enableRev2(t *testing.T, c *imapclient.Client) {
	t.Helper()
	if !c.Caps().Has(imap.CapIMAP4rev2) {
		return
	}
	if _, err := c.Enable(imap.CapIMAP4rev2).Wait(); err != nil {
		t.Fatalf("ENABLE IMAP4rev2: %v", err)
	}
}

// listDelim returns the server's hierarchy delimiter.
func listDelim(t *testing.T, c *imapclient.Client) string {
	t.Helper()
	l, err := c.List("", "", nil).Collect()
	if err != nil || len(l) == 0 {
		t.Fatalf(`LIST "" "": %v`, err)
	}
	return string(l[0].Delim)
}

// serverState is what a client may have cached of a server: per mailbox
// ("/" between levels), its status and each UID's Message-ID and flags.
type serverState struct {
	boxes map[string]*boxState
	subs  []string
}

type boxState struct {
	uidValidity, uidNext, messages uint32
	highestModSeq                  uint64
	msgs                           map[imap.UID]msgState
}

type msgState struct {
	id    string
	flags string // sorted, space-separated, without \Recent
}

// snapshotServer reads every mailbox of the server.
func snapshotServer(t *testing.T, srv *server) *serverState {
	t.Helper()
	c := dialGoIMAP(t, srv, "snapshot", nil)
	defer func() { c.Logout().Wait() }()
	enableRev2(t, c)
	st := &serverState{boxes: map[string]*boxState{}}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		t.Fatalf("LIST (SUBSCRIBED): %v", err)
	}
	for _, l := range subs {
		st.subs = append(st.subs, strings.ReplaceAll(l.Mailbox, string(l.Delim), "/"))
	}
	slices.Sort(st.subs)
	for _, l := range list {
		if slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) {
			continue
		}
		name := strings.ReplaceAll(l.Mailbox, string(l.Delim), "/")
		sd, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true, CondStore: true}).Wait()
		if err != nil {
			t.Fatalf("EXAMINE %s: %v", l.Mailbox, err)
		}
		b := &boxState{uidValidity: sd.UIDValidity, uidNext: uint32(sd.UIDNext), messages: sd.NumMessages,
			highestModSeq: sd.HighestModSeq, msgs: map[imap.UID]msgState{}}
		st.boxes[name] = b
		if b.messages == 0 {
			continue
		}
		bufs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
		if err != nil {
			t.Fatalf("FETCH in %s: %v", l.Mailbox, err)
		}
		for _, m := range bufs {
			b.msgs[m.UID] = msgState{id: m.Envelope.MessageID, flags: flagString(m.Flags, true)}
		}
	}
	return st
}

// flagString spells a flag list sorted, lower-cased, without \Recent;
// with keywords false only system flags are kept.
func flagString(flags []imap.Flag, keywords bool) string {
	var out []string
	for _, f := range flags {
		s := strings.ToLower(string(f))
		if s == `\recent` || (!keywords && !strings.HasPrefix(s, `\`)) {
			continue
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// compareServers checks that the server after (named an) shows every
// mailbox as the server before (bn) did; with modseq, that HIGHESTMODSEQ
// did not go down.
func compareServers(t *testing.T, bn string, before *serverState, an string, after *serverState, modseq bool) {
	t.Helper()
	if !slices.Equal(before.subs, after.subs) {
		t.Errorf("subscriptions: %s %q, %s %q", bn, before.subs, an, after.subs)
	}
	uids, flagDiffs := 0, 0
	for _, name := range slices.Sorted(maps.Keys(before.boxes)) {
		b, a := before.boxes[name], after.boxes[name]
		if a == nil {
			t.Errorf("%s: missing on %s", name, an)
			continue
		}
		t.Logf("%-10s %s UIDVALIDITY %d UIDNEXT %d MESSAGES %d HIGHESTMODSEQ %d; %s %d %d %d %d",
			name, bn, b.uidValidity, b.uidNext, b.messages, b.highestModSeq, an, a.uidValidity, a.uidNext, a.messages, a.highestModSeq)
		if a.uidValidity != b.uidValidity || a.uidNext != b.uidNext || a.messages != b.messages {
			t.Errorf("%s: UIDVALIDITY/UIDNEXT/MESSAGES %d/%d/%d on %s, %d/%d/%d on %s",
				name, a.uidValidity, a.uidNext, a.messages, an, b.uidValidity, b.uidNext, b.messages, bn)
		}
		if modseq && a.highestModSeq < b.highestModSeq {
			t.Errorf("%s: HIGHESTMODSEQ %d on %s, below %s's %d", name, a.highestModSeq, an, bn, b.highestModSeq)
		}
		for uid, m := range b.msgs {
			uids++
			switch am, ok := a.msgs[uid]; {
			case !ok:
				t.Errorf("%s UID %d (%s): missing on %s", name, uid, m.id, an)
			case am.id != m.id:
				t.Errorf("%s UID %d: %s on %s, %s on %s", name, uid, am.id, an, m.id, bn)
			case am.flags != m.flags:
				flagDiffs++
				if flagDiffs <= 10 {
					t.Errorf("%s UID %d: flags %q on %s, %q on %s", name, uid, am.flags, an, m.flags, bn)
				}
			}
		}
	}
	t.Logf("%s to %s: %d mailboxes, %d UIDs compared, %d flag or keyword differences", bn, an, len(before.boxes), uids, flagDiffs)
}

// syncClient is one sync program with its local copy.
type syncClient struct {
	name string
	// keywords is set when the local copy keeps keywords.
	keywords bool
	// run syncs once with srv and returns the client's output.
	run func(t *testing.T, srv *server) string
	// downloads counts, in one sync's output, the messages fetched.
	downloads *regexp.Regexp
	// local reads the local copy: mailbox ("/" between levels) →
	// Message-ID → the flags of each copy.
	local func(t *testing.T) map[string]map[string][]string
}

// sync runs the client once and returns how many messages it downloaded.
func (c *syncClient) sync(t *testing.T, srv *server, when string) int {
	t.Helper()
	start := time.Now()
	out := c.run(t, srv)
	n := 0
	for _, m := range c.downloads.FindAllStringSubmatch(out, -1) {
		k := 1
		if len(m) > 1 && m[1] != "" {
			k, _ = strconv.Atoi(m[1])
		}
		n += k
	}
	t.Logf("%s, %s: %d messages downloaded in %v", c.name, when, n, time.Since(start).Round(time.Millisecond))
	return n
}

// newMbsyncClient syncs every mailbox into a local Maildir (mbsync keeps
// system flags, not keywords).
func newMbsyncClient(t *testing.T, bin, dir string) *syncClient {
	home := clientHome(t, dir, "mbsync")
	local := filepath.Join(home, "mail")
	log := newTranscript(t, "mbsync")
	return &syncClient{
		name:      "mbsync",
		downloads: regexp.MustCompile(`UID FETCH \d+ \(BODY\.PEEK\[\]\)`),
		run: func(t *testing.T, srv *server) string {
			cfg := filepath.Join(home, "mbsyncrc")
			writeMbsyncConfig(t, cfg, srv, local, true)
			before := len(log.String())
			runMbsync(t, bin, cfg, home, log)
			return log.String()[before:]
		},
		local: func(t *testing.T) map[string]map[string][]string { return readMaildirTree(t, local, "/") },
	}
}

// newOfflineIMAPClient syncs every mailbox into a local Maildir with
// offlineimap (one-shot, system flags only).
func newOfflineIMAPClient(t *testing.T, bin, dir string) *syncClient {
	home := clientHome(t, dir, "offlineimap")
	local := filepath.Join(home, "mail")
	return &syncClient{
		name:      "offlineimap",
		downloads: regexp.MustCompile(`Copy message UID \d+ .* -> L:`),
		run: func(t *testing.T, srv *server) string {
			cfg := filepath.Join(home, "offlineimaprc")
			writeFile(t, cfg, fmt.Sprintf(`[general]
accounts = a
metadata = %s/meta
ui = basic

[Account a]
localrepository = L
remoterepository = R

[Repository L]
type = Maildir
localfolders = %s

[Repository R]
type = IMAP
remotehost = %s
remoteport = %s
remoteuser = %s
remotepass = %s
ssl = no
starttls = no
createfolders = False
`, home, local, srv.host, srv.port, srv.user, srv.pass))
			cmd := exec.Command(bin, "-c", cfg, "-o", "-u", "basic")
			cmd.Env = append(os.Environ(), "HOME="+home)
			out := runScript(t, 90*time.Second, cmd)
			if strings.Contains(out, "ERROR") {
				t.Fatalf("offlineimap reported an error:\n%s", tail(out))
			}
			return out
		},
		local: func(t *testing.T) map[string]map[string][]string { return readMaildirTree(t, local, ".") },
	}
}

// writeInterimapConfig writes interimap's configuration in home: its
// database there, local and remote accounts over plain IMAP. It returns
// the file's path.
func writeInterimapConfig(t *testing.T, home string, local, remote *server) string {
	cfg := filepath.Join(home, "config")
	writeFile(t, cfg, fmt.Sprintf(`database = %s/interimap.db

[local]
type = imap
host = %s
port = %s
username = %s
password = %s
STARTTLS = NO

[remote]
type = imap
host = %s
port = %s
username = %s
password = %s
STARTTLS = NO
`, home, local.host, local.port, local.user, local.pass, remote.host, remote.port, remote.user, remote.pass))
	return cfg
}

// newInterimapClient syncs every mailbox, flags and keywords, with a
// second IMAP account (localSrv) using QRESYNC.
func newInterimapClient(t *testing.T, bin, dir string, localSrv *server) *syncClient {
	home := clientHome(t, dir, "interimap")
	return &syncClient{
		name:      "interimap",
		keywords:  true,
		downloads: regexp.MustCompile(`local\([^)]*\): Added (\d+) UID`),
		run: func(t *testing.T, srv *server) string {
			cfg := writeInterimapConfig(t, home, localSrv, srv)
			cmd := exec.Command(bin, "--config="+cfg)
			cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
			out := runScript(t, 90*time.Second, cmd)
			if regexp.MustCompile(`remote\([^)]*\): Added`).MatchString(out) {
				t.Errorf("interimap copied messages to the server:\n%s", tail(out))
			}
			return out
		},
		local: func(t *testing.T) map[string]map[string][]string {
			st := snapshotServer(t, localSrv)
			out := map[string]map[string][]string{}
			for name, b := range st.boxes {
				out[name] = map[string][]string{}
				for _, m := range b.msgs {
					out[name][m.id] = append(out[name][m.id], m.flags)
				}
			}
			return out
		},
	}
}

// clientHome makes a client's own folder under dir (its HOME, config
// and local copy), with a mail/ folder in it.
func clientHome(t *testing.T, dir, name string) string {
	t.Helper()
	home := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Join(home, "mail"), 0o700); err != nil {
		t.Fatal(err)
	}
	return home
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// readMaildirTree reads every Maildir folder under root (sep between the
// levels of a folder's name, in modified UTF-7):
// mailbox → Message-ID → system flags of each copy.
func readMaildirTree(t *testing.T, root, sep string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() != "cur" {
			return err
		}
		md := filepath.Dir(path)
		rel, err := filepath.Rel(root, md)
		if err != nil {
			return err
		}
		// The clients keep the names as the server sent them, in
		// modified UTF-7.
		levels := strings.Split(strings.ReplaceAll(filepath.ToSlash(rel), sep, "/"), "/")
		for i, l := range levels {
			if d, err := imapwire.DecodeMUTF7(l); err == nil {
				levels[i] = d
			}
		}
		name := strings.Join(levels, "/")
		box := map[string][]string{}
		for id, fs := range readMaildir(t, md) {
			for _, f := range fs {
				box[id] = append(box[id], flagString(f.imap(), false))
			}
		}
		out[name] = box
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compareLocal compares a client's local copy before and after its sync
// with Dormouse: it returns the number of duplicate copies after, and the
// messages that appeared, vanished or changed flags.
func compareLocal(before, after map[string]map[string][]string) (dups int, diffs []string) {
	for _, name := range slices.Sorted(maps.Keys(after)) {
		for id, fs := range after[name] {
			dups += len(fs) - 1
			if b := before[name][id]; !slices.Equal(b, fs) {
				diffs = append(diffs, fmt.Sprintf("%s %s: %q before, %q after", name, id, b, fs))
			}
		}
	}
	for name, box := range before {
		for id := range box {
			if _, ok := after[name][id]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s %s: gone", name, id))
			}
		}
	}
	slices.Sort(diffs)
	return dups, diffs
}

// compareWithServer compares a client's local copy with the server's
// mailboxes, message by message (system flags only unless keywords).
func compareWithServer(srv *serverState, local map[string]map[string][]string, keywords bool) []string {
	var diffs []string
	for name, b := range srv.boxes {
		for _, m := range b.msgs {
			want := m.flags
			if !keywords {
				want = flagString(toFlags(m.flags), false)
			}
			got := local[name][m.id]
			if len(got) != 1 || got[0] != want {
				diffs = append(diffs, fmt.Sprintf("%s %s: server %q, client %q", name, m.id, want, got))
			}
		}
	}
	slices.Sort(diffs)
	return diffs
}

func toFlags(s string) []imap.Flag {
	var out []imap.Flag
	for _, f := range strings.Fields(s) {
		out = append(out, imap.Flag(f))
	}
	return out
}

func countMessages(local map[string]map[string][]string) int {
	n := 0
	for _, box := range local {
		for _, fs := range box {
			n += len(fs)
		}
	}
	return n
}

func firstOf(s []string) string {
	if len(s) > 5 {
		s = append(s[:5:5], fmt.Sprintf("... and %d more", len(s)-5))
	}
	return strings.Join(s, "; ")
}
