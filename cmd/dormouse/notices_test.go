package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/notice"
	"github.com/dormouse/dormouse/notice/natstest"
)

// noticeWaiter reads the notices a NATS subscriber hears.
type noticeWaiter struct {
	t      *testing.T
	msgs   chan *nats.Msg
	resync chan string
}

func subscribeNotices(t *testing.T, url, user string) *noticeWaiter {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	w := &noticeWaiter{t: t, msgs: make(chan *nats.Msg, 256), resync: make(chan string, 16)}
	if _, err := nc.ChanSubscribe(notice.UserSubject(user), w.msgs); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe(notice.ResyncSubject, func(m *nats.Msg) { w.resync <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return w
}

// next returns the next notice of kind, skipping others, within 30s.
func (w *noticeWaiter) next(kind notice.Kind) notice.Notice {
	w.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-w.msgs:
			var n notice.Notice
			if err := n.UnmarshalBinary(m.Data); err != nil {
				w.t.Fatalf("notice on %s: %v", m.Subject, err)
			}
			if m.Subject != notice.Subject(n.User, n.Mailbox) {
				w.t.Fatalf("notice %+v on subject %s", n, m.Subject)
			}
			if n.Kind == kind {
				return n
			}
		case <-deadline:
			w.t.Fatalf("no %v notice within 30s", kind)
		}
	}
}

// writeConfig writes the data folder's dormouse.toml.
func writeConfig(t *testing.T, data, toml string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// dropFile puts a message into a Maildir folder's new/ as an MDA does,
// and returns its name.
func dropFile(t *testing.T, maildir, name, body string) string {
	t.Helper()
	tmp := filepath.Join(maildir, "tmp", name)
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(maildir, "new", name)); err != nil {
		t.Fatal(err)
	}
	return name
}

// backendNode returns the index of the cluster node the daemon publishes
// through (its connection's name is "dormouse backend NODE").
func backendNode(t *testing.T, c *natstest.Cluster, node string) int {
	t.Helper()
	found := -1
	testserver.Eventually(testserver.Patience, func() bool {
		for i, s := range c.Servers {
			if !s.Running() {
				continue
			}
			cz, err := s.Connz(&server.ConnzOptions{})
			if err != nil {
				continue
			}
			for _, ci := range cz.Conns {
				if ci.Name == "dormouse backend "+node {
					found = i
					return true
				}
			}
		}
		return false
	})
	if found < 0 {
		t.Fatal("the daemon has no NATS connection")
	}
	return found
}

// TestServePublishesNotices runs `dormouse serve` with [cluster] nats on a
// 3-node NATS cluster and a subscriber on another node, and checks the
// notices of a delivery by LMTP, a file written into the Maildir by
// another program, an IMAP STORE and an EXPUNGE: kind, UIDVALIDITY,
// HIGHESTMODSEQ and UIDNEXT after each change. Then it kills the NATS
// node the server publishes through: notices go on through another,
// after a resync message.
func TestServePublishesNotices(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	data := t.TempDir()
	addTestUser(t, data, "alice", "pw")
	writeConfig(t, data, fmt.Sprintf("[cluster]\nnats = %q\nnode = \"b1\"\n", c.URLs()))
	d := startDaemon(t, data)
	on := backendNode(t, c, "b1")
	w := subscribeNotices(t, c.Servers[(on+1)%3].ClientURL(), "alice")
	// The subscription's interest reaches the other nodes through the
	// routes a moment later.
	if !testserver.Eventually(testserver.Patience, func() bool {
		for _, srv := range c.Servers {
			if !srv.GlobalAccount().SubscriptionInterest(notice.Subject("alice", "INBOX")) {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the subscription's interest did not reach every node")
	}
	if v := metricValue(t, d.metric, "dormouse_notice_nats_connected"); v != 1 {
		t.Errorf("nats_connected %v", v)
	}

	lmtpSend(t, d.lmtp, "alice@example.org", "Subject: one\r\n\r\nhello\r\n")
	n := w.next(notice.MessagesAdded)
	if n.User != "alice" || n.Mailbox != "INBOX" || n.Node != "b1" || n.UIDNext != 2 || n.UIDValidity == 0 || n.HighestModSeq == 0 || n.At.IsZero() {
		t.Fatalf("LMTP notice %+v", n)
	}
	uidValidity, modseq := n.UIDValidity, n.HighestModSeq

	// A session holds the INBOX watched, so that a file another program
	// writes is seen (through inotify).
	cl := dialIMAP(t, d.imap, nil)
	cl.Login("alice", "pw")
	cl.MustOK("SELECT INBOX")
	dropFile(t, filepath.Join(data, "users", "alice", "Maildir"), "1700000000.P1Q1.other", "Subject: two\n\nhi\n")
	n = w.next(notice.MessagesAdded)
	if n.UIDNext != 3 || n.UIDValidity != uidValidity || n.HighestModSeq <= modseq {
		t.Fatalf("external write's notice %+v (before: modseq %d)", n, modseq)
	}
	modseq = n.HighestModSeq

	cl.MustOK("STORE 1 +FLAGS (\\Deleted)")
	n = w.next(notice.FlagsChanged)
	if n.UIDNext != 3 || n.HighestModSeq <= modseq {
		t.Fatalf("STORE's notice %+v (before: modseq %d)", n, modseq)
	}
	modseq = n.HighestModSeq
	cl.MustOK("EXPUNGE")
	n = w.next(notice.MessagesExpunged)
	if n.UIDNext != 3 || n.HighestModSeq <= modseq {
		t.Fatalf("EXPUNGE's notice %+v (before: modseq %d)", n, modseq)
	}
	modseq = n.HighestModSeq

	c.Kill(on)
	select {
	case node := <-w.resync:
		if node != "b1" {
			t.Errorf("resync from %q", node)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no resync after the server's NATS node died")
	}
	lmtpSend(t, d.lmtp, "alice@example.org", "Subject: three\r\n\r\nhello\r\n")
	n = w.next(notice.MessagesAdded)
	if n.UIDNext != 4 || n.HighestModSeq <= modseq {
		t.Fatalf("notice after the node's death %+v", n)
	}
	if v := metricValue(t, d.metric, `dormouse_notice_published_total`); v < 5 {
		t.Errorf("published_total %v, want at least 5", v)
	}
	if strings.Contains(scrape(t, d.metric), `dormouse_notice_dropped_total{reason="invalid"} 1`) {
		t.Error("a notice was invalid")
	}
}

// TestEmbeddedNATSAndUserMap runs `dormouse serve` with its embedded NATS
// server, hears its notices there, and moves a user with `dormouse
// cluster move`, read back with `cluster where` and through the API.
func TestEmbeddedNATSAndUserMap(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "pw")
	addr := freeAddr(t)
	writeConfig(t, data, fmt.Sprintf("[cluster]\nnats = \"embedded:%s\"\n", addr))
	d := startDaemon(t, data)
	w := subscribeNotices(t, "nats://"+addr, "alice")
	lmtpSend(t, d.lmtp, "alice@example.org", "Subject: one\r\n\r\nhello\r\n")
	if n := w.next(notice.MessagesAdded); n.Node != d.imap || n.UIDNext != 2 {
		t.Fatalf("notice %+v (node: the IMAP address %s)", n, d.imap)
	}

	if code, _, stderr := runDormouse(t, "", "cluster", "move", "--data", data, "alice", "127.0.0.1:2143"); code != 0 {
		t.Fatalf("cluster move: exit %d: %s", code, stderr)
	}
	if code, out, stderr := runDormouse(t, "", "cluster", "where", "--data", data, "alice"); code != 0 || out != "127.0.0.1:2143\n" {
		t.Fatalf("cluster where: exit %d, %q, %s", code, out, stderr)
	}
	if code, out, _ := runDormouse(t, "", "cluster", "where", "--data", data, "bob"); code != 0 || !strings.Contains(out, "not in the map") {
		t.Fatalf("cluster where bob: exit %d, %q", code, out)
	}
	if code, _, _ := runDormouse(t, "", "cluster", "move", "--data", data, "alice"); code != exitUsage {
		t.Errorf("cluster move without a backend: exit %d", code)
	}
}

// TestHintsWakeSleepers turns inotify off and checks that a client asleep
// in IDLE hears of a `dormouse deliver` (which sends a hint) and of a file
// another program writes and then announces with `dormouse notice`, and
// that without the hint it hears nothing (inotify is off indeed).
func TestHintsWakeSleepers(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "pw")
	writeConfig(t, data, "[store]\ninotify = false\n")
	d := startDaemon(t, data, "--hibernate-after", "100ms")
	cl := dialIMAP(t, d.imap, nil)
	cl.Login("alice", "pw")
	cl.MustOK("SELECT INBOX")
	cl.Send("I1 IDLE")
	cl.WaitFor(`^\+ `)
	if !testserver.Eventually(testserver.Patience, func() bool {
		return metricValue(t, d.metric, "dormouse_imap_hibernations_total") >= 1
	}) {
		t.Fatal("the IDLE client did not hibernate")
	}

	if code, _, stderr := runDormouse(t, "Subject: one\n\nhello\n", "deliver", "--data", data, "alice"); code != 0 {
		t.Fatalf("deliver: exit %d: %s", code, stderr)
	}
	cl.WaitFor(`^\* 1 EXISTS`)
	cl.WaitFor(`^\* \d+ RECENT`)

	md := filepath.Join(data, "users", "alice", "Maildir")
	name := dropFile(t, md, "1700000000.P1Q1.other", "Subject: two\n\nhi\n")
	// inotify would have told within milliseconds.
	cl.ExpectNothing(2 * time.Second)
	if code, _, stderr := runDormouse(t, "", "notice", "--data", data, "--file", "new/"+name, "alice", "INBOX"); code != 0 {
		t.Fatalf("notice: exit %d: %s", code, stderr)
	}
	cl.WaitFor(`^\* 2 EXISTS`)
	cl.WaitFor(`^\* \d+ RECENT`)
	// A hint naming no file rescans the mailbox.
	dropFile(t, md, "1700000001.P1Q1.other", "Subject: three\n\nhi\n")
	if code, _, stderr := runDormouse(t, "", "notice", "--data", data, "alice"); code != 0 {
		t.Fatalf("notice: exit %d: %s", code, stderr)
	}
	cl.WaitFor(`^\* 3 EXISTS`)
	cl.WaitFor(`^\* \d+ RECENT`)
	if v := metricValue(t, d.metric, `dormouse_imap_wakes_total{cause="mailbox"}`); v != 0 {
		t.Errorf("the sleeper woke %v times for the mailbox; it is told asleep", v)
	}
	if v := metricValue(t, d.metric, `dormouse_notice_hints_total{result="applied"}`); v != 3 {
		t.Errorf("%v hints applied, want 3", v)
	}
	// Bad hints are refused and counted; the socket goes on.
	if code, _, _ := runDormouse(t, "", "notice", "--data", data, "nobody"); code != 0 {
		t.Fatalf("notice nobody: exit %d (the datagram is sent; the server refuses it)", code)
	}
	if !testserver.Eventually(testserver.Patience, func() bool {
		return metricValue(t, d.metric, `dormouse_notice_hints_total{result="refused"}`) == 1
	}) {
		t.Error("the hint for an unknown user was not counted as refused")
	}
	cl.Send("DONE")
	cl.WaitFor(`^I1 OK`)
}

// TestEmbeddedNATSSurvivesTakeover upgrades a server that runs an
// embedded NATS server: the new process starts its own on the same
// address once the old one has let it go, and publishes there.
func TestEmbeddedNATSSurvivesTakeover(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "pw")
	addr := freeAddr(t)
	writeConfig(t, data, fmt.Sprintf("[cluster]\nnats = \"embedded:%s\"\nnode = \"b1\"\n", addr))
	old := startDaemon(t, data)
	// A subscriber that reconnects, as a proxy's does.
	nc, err := notice.Connect("nats://"+addr, "test subscriber", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	w := &noticeWaiter{t: t, msgs: make(chan *nats.Msg, 256), resync: make(chan string, 16)}
	if _, err := nc.ChanSubscribe(notice.UserSubject("alice"), w.msgs); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	lmtpSend(t, old.lmtp, "alice@example.org", "Subject: one\r\n\r\nhello\r\n")
	if n := w.next(notice.MessagesAdded); n.UIDNext != 2 {
		t.Fatalf("notice %+v", n)
	}

	d := startTakeover(t, old, data)
	old.waitExit()
	// The subscriber is back once the new process's server listens.
	if !testserver.Eventually(60*time.Second, nc.IsConnected) {
		t.Fatalf("the subscriber did not reconnect\nnew stderr:\n%s", d.stderr.String())
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	lmtpSend(t, d.lmtp, "alice@example.org", "Subject: two\r\n\r\nhello\r\n")
	if n := w.next(notice.MessagesAdded); n.UIDNext != 3 || n.Node != "b1" {
		t.Fatalf("notice after the upgrade %+v", n)
	}
}
