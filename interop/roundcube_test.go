package interop

import (
	"cmp"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/mailstore/maildir"
)

const (
	// rcMessages is the size of the folder Roundcube lists; every fifth
	// message starts a thread of five (a root and four replies).
	rcMessages = 2000
	rcThread   = 5
	// rcQuotaRule is alice's quota, in the form of the configuration and
	// of a passwd-file's userdb_quota_rule field.
	rcQuotaRule = "*:storage=64M:messages=10000"
	// rcSearchWord is in the subjects of the threads whose root's index
	// is a multiple of rcSearchEvery: 8 threads, 40 messages.
	rcSearchWord  = "zeppelin"
	rcSearchEvery = 250
	// rcMoved is the index of the message Roundcube moves: a thread's
	// last reply, so that the threads stay as many.
	rcMoved = 1234
	// rcPageSize is Roundcube's default page size (mail_pagesize).
	rcPageSize = 50
)

// rcMessage is one message of the listed folder, generated so that each
// sort key orders the folder differently: dates and sizes are two
// different permutations of the index (so no two messages tie), subjects a
// third order; every fifth message starts a thread that the next four
// join by In-Reply-To and References.
type rcMessage struct {
	id      string // Message-ID without brackets
	subject string
	base    string // the subject without "Re: " (RFC 5256 base subject)
	date    time.Time
	parent  int // index of the message this one replies to, -1 for none
	depth   int // replies between the thread's root and this message
	seen    bool
	raw     string
}

var rcWords = []string{"Kumquat", "budget", "Lantern", "meeting", "Orchard", "invoice", "Walrus",
	"schedule", "Harbour", "release", "Quartz", "minutes", "Falcon", "review", "Juniper", "travel"}

// rcMailbox generates the folder.
func rcMailbox() []rcMessage {
	msgs := make([]rcMessage, rcMessages)
	start := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)
	zones := []*time.Location{time.UTC, time.FixedZone("", -5*3600), time.FixedZone("", 3600), time.FixedZone("", 9*3600+1800)}
	for i := range msgs {
		m := &msgs[i]
		m.id = fmt.Sprintf("rc-%04d@interop.test", i)
		m.parent, m.depth = -1, 0
		root := i - i%rcThread
		switch k := i % rcThread; k {
		case 0:
			m.base = fmt.Sprintf("%s %s %04d", rcWords[(i*7)%len(rcWords)], rcWords[(i/3)%len(rcWords)], (i*389)%rcMessages)
			if i%rcSearchEvery == 0 {
				m.base += " " + rcSearchWord
			}
			m.subject = m.base
		default:
			m.base, m.subject = msgs[root].base, "Re: "+msgs[root].base
			// 1 and 2 answer the root, 3 answers 2, 4 answers 3.
			m.parent = root
			if k > 2 {
				m.parent = i - 1
			}
			m.depth = msgs[m.parent].depth + 1
		}
		// 733 and 1237 are prime to 2000: i*p mod 2000 is a permutation.
		m.date = start.Add(time.Duration((i*733)%rcMessages) * 4 * time.Hour).In(zones[i%len(zones)])
		m.seen = i%3 == 0
		m.raw = rcRaw(msgs, i, 1500+9*((i*1237)%rcMessages))
	}
	return msgs
}

// rcRaw is message i's text, padded to exactly size bytes.
func rcRaw(msgs []rcMessage, i, size int) string {
	m := msgs[i]
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s Sender <%s@example.org>\r\n", rcWords[(i*5)%len(rcWords)], strings.ToLower(rcWords[(i*11)%len(rcWords)]))
	b.WriteString("To: Alice <alice@example.org>\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", m.subject)
	fmt.Fprintf(&b, "Date: %s\r\n", m.date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s>\r\n", m.id)
	if m.parent >= 0 {
		var refs []string
		for p := m.parent; p >= 0; p = msgs[p].parent {
			refs = append([]string{"<" + msgs[p].id + ">"}, refs...)
		}
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: %s\r\n", msgs[m.parent].id, strings.Join(refs, " "))
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	fmt.Fprintf(&b, "Hello Alice, this is body-%04d of the Roundcube test.\r\n", i)
	line := strings.Repeat("lorem ipsum ", 6) + "\r\n"
	for b.Len()+len(line) <= size-8 {
		b.WriteString(line)
	}
	b.WriteString(strings.Repeat("x", size-b.Len()-2) + "\r\n")
	return b.String()
}

// writeRCMaildir writes the folder into a Maildir's cur/, before the
// server has seen it (as mail a migration left behind), with each
// message's date as its file time.
func writeRCMaildir(t *testing.T, md string, msgs []rcMessage) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range msgs {
		flags := ""
		if m.seen {
			flags = "S"
		}
		name := filepath.Join(md, "cur", fmt.Sprintf("%d.M%dP1.roundcube:2,%s", 1764300000+i, i, flags))
		if err := os.WriteFile(name, []byte(m.raw), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(name, m.date, m.date); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRoundcube: Roundcube 1.6 (Debian's package, PHP's built-in web
// server, SQLite) logs in to Dormouse, lists a 2,000-message folder sorted
// by date, subject and size, searches it, opens a message, moves one to
// another folder, lists it threaded and shows the quota, each checked
// against the generated folder and the server's state; a counting proxy
// between them checks that Roundcube sorted and threaded on the server
// (UID SORT, UID THREAD) and logs IMAP commands and bytes per page load.
//
// ROUNDCUBE_DORMOUSE=/path/to/dormouse runs the same pages against that
// binary (an older build, for before/after figures) instead of this code;
// then the checks that need SORT, THREAD or QUOTA apply only if it
// advertises them.
func TestRoundcube(t *testing.T) {
	php := requireRoundcube(t)
	msgs := rcMailbox()
	srv, external := startRoundcubeServer(t, msgs)
	meter := startIMAPMeter(t, srv.addr)
	rc := startRoundcube(t, php, meter.addr)

	// The checker connects directly, not through the meter.
	c := dialGoIMAP(t, srv, "roundcube-checker", nil)
	caps := c.Caps()
	sortThread := !external || caps.Has(imap.CapSort) && caps.Has("THREAD=REFS")
	quota := !external || caps.Has(imap.CapQuota)
	if !external && (!caps.Has(imap.CapSort) || !caps.Has("THREAD=REFS") || !caps.Has(imap.CapQuota)) {
		t.Errorf("Dormouse does not advertise SORT, THREAD=REFS and QUOTA: %v", caps)
	}
	if err := c.Create("Projects", nil).Wait(); err != nil {
		t.Fatalf("CREATE Projects: %v", err)
	}
	byID := serverUIDs(t, c)
	uidOf := func(i int) uint32 { return uint32(byID[msgs[i].id]) }
	if len(byID) != rcMessages {
		t.Fatalf("INBOX has %d distinct Message-IDs, want %d", len(byID), rcMessages)
	}

	var loads []rcLoad
	load := func(name, what string, fn func()) {
		t.Helper()
		fn()
		u := meter.take(t)
		for _, cmd := range u.Commands {
			if cmd.Status != "OK" {
				t.Errorf("%s: Roundcube's %s got %q", name, cmd.Name, cmd.Status)
			}
		}
		loads = append(loads, rcLoad{name, what, u})
	}
	t.Cleanup(func() { logRCLoads(t, loads) })

	var mailView string
	load("login form", "GET /", func() { rc.loginPage(t) })
	load("login", "POST _action=login", func() { mailView = rc.login(t, srv.user, srv.pass) })
	load("mail view", "GET ?_task=mail", func() { rc.page(t, mailView) })

	// Lists, page 1 of each order, compared with the folder sorted here.
	byDate := rcOrder(msgs, func(a, b rcMessage) int { return b.date.Compare(a.date) })
	bySize := rcOrder(msgs, func(a, b rcMessage) int { return cmp.Compare(len(b.raw), len(a.raw)) })
	lists := []struct {
		name, sort string
		want       func(rows []rcRow) error
	}{
		{"list by date", "date_DESC", func(rows []rcRow) error { return sameUIDs(rows, byDate[:rcPageSize], uidOf) }},
		{"list by subject", "subject_ASC", func(rows []rcRow) error {
			// By base subject (RFC 5256), which only SORT gives: without
			// it Roundcube orders by the whole subject, "Re: " and all.
			// Messages of one thread share a base subject and RFC 5256
			// breaks those ties by sequence number, so the subjects are
			// compared, not the UIDs.
			if !sortThread {
				return nil
			}
			var got, want []string
			for _, r := range rows {
				got = append(got, strings.TrimPrefix(r.Cols.Subject, "Re: "))
			}
			bases := rcOrder(msgs, func(a, b rcMessage) int { return strings.Compare(strings.ToLower(a.base), strings.ToLower(b.base)) })
			for _, i := range bases[:rcPageSize] {
				want = append(want, msgs[i].base)
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("subjects %q, want %q", got, want)
			}
			return nil
		}},
		{"list by size", "size_DESC", func(rows []rcRow) error { return sameUIDs(rows, bySize[:rcPageSize], uidOf) }},
	}
	for _, l := range lists {
		var r rcResponse
		load(l.name, "_action=list&_sort="+l.sort, func() {
			r = rc.ajax(t, url.Values{"_action": {"list"}, "_mbox": {"INBOX"}, "_sort": {l.sort}, "_page": {"1"}}, nil)
		})
		if n := r.envInt(t, "messagecount"); n != rcMessages {
			t.Errorf("%s: messagecount %d, want %d", l.name, n, rcMessages)
		}
		if err := l.want(r.rows(t)); err != nil {
			t.Errorf("%s: %v", l.name, err)
		}
		if sortThread && !slices.Contains(loads[len(loads)-1].usage.names(), "UID SORT") {
			t.Errorf("%s: Roundcube did not sort on the server: %v", l.name, loads[len(loads)-1].usage.names())
		}
	}

	// Search: the subjects with rcSearchWord, sorted as the list was.
	var found rcResponse
	load("search", "_action=search&_q="+rcSearchWord, func() {
		found = rc.ajax(t, url.Values{"_action": {"search"}, "_mbox": {"INBOX"}, "_q": {rcSearchWord},
			"_headers": {"subject"}, "_filter": {"ALL"}, "_scope": {"base"}}, nil)
	})
	var wantFound []int
	for i, m := range msgs {
		if strings.Contains(m.base, rcSearchWord) {
			wantFound = append(wantFound, i)
		}
	}
	if err := sameUIDSet(found.rows(t), wantFound, uidOf); err != nil || found.envInt(t, "messagecount") != len(wantFound) {
		t.Errorf("search %q: %v (messagecount %v, want %d)", rcSearchWord, err, found.Env["messagecount"], len(wantFound))
	}

	// Open a message: its headers and text are on the page.
	opened := bySize[0]
	var shown string
	load("open message", "_action=show", func() {
		shown = rc.page(t, "?"+url.Values{"_task": {"mail"}, "_action": {"show"}, "_mbox": {"INBOX"},
			"_uid": {strconv.Itoa(int(uidOf(opened)))}}.Encode())
	})
	for _, want := range []string{msgs[opened].subject, fmt.Sprintf("body-%04d", opened)} {
		if !strings.Contains(shown, want) {
			t.Errorf("open message %d: page lacks %q", opened, want)
		}
	}

	// Move a message: gone from INBOX, in Projects, on the server.
	var moved rcResponse
	load("move message", "POST _action=move", func() {
		moved = rc.ajax(t, url.Values{"_action": {"move"}}, url.Values{"_mbox": {"INBOX"},
			"_uid": {strconv.Itoa(int(uidOf(rcMoved)))}, "_target_mbox": {"Projects"}})
	})
	if n := moved.envInt(t, "exists"); n != rcMessages-1 {
		t.Errorf("move: INBOX exists %d, want %d", n, rcMessages-1)
	}
	if _, ok := serverUIDs(t, c)[msgs[rcMoved].id]; ok {
		t.Errorf("move: message %s still in INBOX", msgs[rcMoved].id)
	}
	if _, err := c.Select("Projects", nil).Wait(); err != nil {
		t.Fatalf("SELECT Projects: %v", err)
	}
	if got, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect(); err != nil || len(got) != 1 || got[0].Envelope.MessageID != msgs[rcMoved].id {
		t.Errorf("move: Projects holds %v, %v; want %s", got, err, msgs[rcMoved].id)
	}

	// Threads: Roundcube's threaded list, page 1 by date.
	var threads rcResponse
	load("threaded list", "_action=list&_threads=1", func() {
		threads = rc.ajax(t, url.Values{"_action": {"list"}, "_mbox": {"INBOX"}, "_sort": {"date_DESC"}, "_threads": {"1"}}, nil)
	})
	if sortThread {
		if !slices.Contains(loads[len(loads)-1].usage.names(), "UID THREAD") {
			t.Errorf("threaded list: Roundcube did not thread on the server: %v", loads[len(loads)-1].usage.names())
		}
		checkRCThreads(t, threads, msgs, byID)
	}

	// Quota, as the list shows it after the move: the folder's bytes in
	// KiB (rounded down, RFC 9208 STORAGE) against the passwd-file limit.
	if quota {
		limits, err := mailstore.ParseQuotaRules(rcQuotaRule, mailstore.QuotaLimits{})
		if err != nil {
			t.Fatal(err)
		}
		var bytes int64
		for _, m := range msgs {
			bytes += int64(len(m.raw))
		}
		q, ok := threads.quota(t)
		storage, messages := q.All[""]["storage"], q.All[""]["message"]
		if !ok || q.Used != bytes/1024 || q.Total != limits.Storage/1024 ||
			storage.Used != bytes/1024 || messages.Used != rcMessages || messages.Total != limits.Messages {
			t.Errorf("quota shown: %+v (found %v); want storage %d of %d KiB, messages %d of %d",
				q, ok, bytes/1024, limits.Storage/1024, rcMessages, limits.Messages)
		}
	}
}

// rcLoad is one page load and what it cost in IMAP.
type rcLoad struct {
	name, request string
	usage         meterUsage
}

// logRCLoads logs the IMAP cost of each page load, the figures for
// docs/benchmarks.md.
func logRCLoads(t *testing.T, loads []rcLoad) {
	var b strings.Builder
	fmt.Fprintf(&b, "IMAP per Roundcube page load (%d messages):\n", rcMessages)
	fmt.Fprintf(&b, "%-16s %5s %8s %12s %12s  %s\n", "page", "conns", "commands", "client B", "server B", "commands sent")
	for _, l := range loads {
		u := l.usage
		fmt.Fprintf(&b, "%-16s %5d %8d %12d %12d  %s\n", l.name, u.Conns, len(u.Commands), u.ClientBytes, u.ServerBytes, strings.Join(u.names(), ", "))
	}
	for _, l := range loads {
		fmt.Fprintf(&b, "%s (%s):\n", l.name, l.request)
		for _, c := range l.usage.Commands {
			fmt.Fprintf(&b, "    %s -> %s\n", c.Text, c.Status)
		}
	}
	t.Log(b.String())
}

// rcOrder returns the indexes of msgs sorted stably by cmp.
func rcOrder(msgs []rcMessage, cmp func(a, b rcMessage) int) []int {
	idx := make([]int, len(msgs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp(msgs[a], msgs[b]) })
	return idx
}

// sameUIDs reports whether the rows are the messages want, in order.
func sameUIDs(rows []rcRow, want []int, uidOf func(int) uint32) error {
	got, w := rcUIDs(rows, want, uidOf)
	if !slices.Equal(got, w) {
		return fmt.Errorf("UIDs %v, want %v", got, w)
	}
	return nil
}

// sameUIDSet is sameUIDs in any order.
func sameUIDSet(rows []rcRow, want []int, uidOf func(int) uint32) error {
	got, w := rcUIDs(rows, want, uidOf)
	slices.Sort(got)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		return fmt.Errorf("UIDs %v, want %v", got, w)
	}
	return nil
}

// rcUIDs returns the UIDs of the rows and of the messages want.
func rcUIDs(rows []rcRow, want []int, uidOf func(int) uint32) (got, w []uint32) {
	for _, r := range rows {
		got = append(got, r.UID)
	}
	for _, i := range want {
		w = append(w, uidOf(i))
	}
	return got, w
}

// checkRCThreads checks Roundcube's threaded list: as many threads as
// roots, and each reply on the page under the message it answers.
func checkRCThreads(t *testing.T, r rcResponse, msgs []rcMessage, byID map[string]imap.UID) {
	t.Helper()
	if n := r.envInt(t, "messagecount"); n != rcMessages/rcThread {
		t.Errorf("threaded list: %d threads, want %d", n, rcMessages/rcThread)
	}
	index := make(map[uint32]int, len(msgs))
	for i, m := range msgs {
		if uid, ok := byID[m.id]; ok {
			index[uint32(uid)] = i
		}
	}
	replies := 0
	for _, row := range r.rows(t) {
		i, ok := index[row.UID]
		if !ok {
			t.Errorf("threaded list: unknown UID %d", row.UID)
			continue
		}
		m := msgs[i]
		var wantParent uint32
		if m.parent >= 0 {
			wantParent = uint32(byID[msgs[m.parent].id])
			replies++
		}
		if row.Flags.ParentUID != wantParent || row.Flags.Depth != m.depth {
			t.Errorf("threaded list: UID %d (message %d) under UID %d at depth %d, want under %d at depth %d",
				row.UID, i, row.Flags.ParentUID, row.Flags.Depth, wantParent, m.depth)
		}
	}
	if replies == 0 {
		t.Errorf("threaded list: no replies shown under their threads")
	}
}

// startRoundcubeServer starts the Dormouse Roundcube talks to, with the
// folder already in alice's INBOX and her quota set: this code in-process
// (testserver), or the binary ROUNDCUBE_DORMOUSE names, with the quota in
// its passwd-file. external says which.
func startRoundcubeServer(t *testing.T, msgs []rcMessage) (srv *server, external bool) {
	t.Helper()
	bin := os.Getenv("ROUNDCUBE_DORMOUSE")
	if bin == "" {
		limits, err := mailstore.ParseQuotaRules(rcQuotaRule, mailstore.QuotaLimits{})
		if err != nil {
			t.Fatal(err)
		}
		ts := testserver.Start(t, testserver.WithStoreOptions(func(o *maildir.Options) {
			o.QuotaLimits = func(string) mailstore.QuotaLimits { return limits }
		}))
		writeRCMaildir(t, filepath.Join(ts.DataDir, "users", ts.Alice.Name, "Maildir"), msgs)
		return serverAt(t, ts.Addr, ts.Alice), false
	}
	data := t.TempDir()
	alice := testserver.User{Name: "alice", Password: "alice-secret"}
	writeFile(t, filepath.Join(data, "passwd"), fmt.Sprintf("%s:{PLAIN}%s::::::userdb_quota_rule=%s\n", alice.Name, alice.Password, rcQuotaRule))
	writeRCMaildir(t, filepath.Join(data, "users", alice.Name, "Maildir"), msgs)
	addr := freeLoopbackAddr(t)
	cmd := exec.Command(bin, "serve", "--data", data, "--imap", addr, "--imaps", "", "--lmtp", "")
	out := &transcript{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", bin, tail(out.String()))
		}
	})
	if err := waitListening(addr, exited, time.Minute); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, out.String())
	}
	return serverAt(t, addr, alice), true
}
