package imapserver_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/mailstore/maildir"
)

// startHopWatch starts a hop server (startHop) with inotify on and no
// watch linger, so that a mailbox no one holds is at once unwatched.
func startHopWatch(t *testing.T, configure func(*imapserver.Config)) *testserver.Server {
	t.Helper()
	return testserver.Start(t,
		testserver.WithStoreOptions(func(o *maildir.Options) { o.WatchLinger = -1 }),
		testserver.WithConfig(func(c *imapserver.Config) {
			c.HibernateAfter = hopQuiet
			c.ProxySecret = hopSecret
			if configure != nil {
				configure(c)
			}
		}))
}

// handOffIdle opens user's session through a proxy, selects INBOX and
// idles until the session is handed off and its connection closed (after
// the session let go of its own watch).
func handOffIdle(t *testing.T, srv *testserver.Server, user string) {
	t.Helper()
	c := xproxy(t, srv, user, "192.0.2.7:4711")
	c.Send("s1 SELECT INBOX")
	c.ReadUntilTagged("s1")
	c.Send("i1 IDLE")
	c.Expect("S: + idling")
	readXSleep(t, c)
}

// writeExternally delivers a message into user's INBOX as a program that
// knows nothing of Dormouse: written in tmp/, renamed into new/, no hint.
func writeExternally(t *testing.T, srv *testserver.Server, user, name string) {
	t.Helper()
	md := filepath.Join(srv.DataDir, "users", user, "Maildir")
	tmp := filepath.Join(md, "tmp", name)
	if err := os.WriteFile(tmp, []byte(testMessage(9)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
		t.Fatal(err)
	}
}

// TestProxyHopHandoffWatch: when the only session of alice's INBOX has
// handed off to its proxy, a message another program writes straight into
// the Maildir still becomes a store event, the one the notice publisher
// turns into a notice (Store.Watch("", "", ...)), because the handoff
// holds the mailbox's folders watched; a second handoff of the same
// mailbox takes no second hold.
func TestProxyHopHandoffWatch(t *testing.T) {
	srv := startHopWatch(t, nil)
	fill(t, srv, "INBOX", 1)
	events := make(chan mailstore.Event, 64)
	// As the notice publisher listens: every user, nothing watched on
	// disk by this subscription.
	cancel := srv.Store.Watch("", "", func(ev mailstore.Event) {
		select {
		case events <- ev:
		default:
		}
	})
	defer cancel()

	handOffIdle(t, srv, "alice")
	handOffIdle(t, srv, "alice")
	testserver.WaitFor(t, "no session held after the handoffs", func() bool { return len(srv.IMAP.Sessions()) == 0 })
	m := testserver.Gather(t, srv.Metrics)
	if m["dormouse_imap_proxy_handoffs_total"] != 2 || m["dormouse_imap_proxy_handoff_watches"] != 1 {
		t.Errorf("after two handoffs of alice's INBOX: handoffs %v, held %v; want 2 and 1",
			m["dormouse_imap_proxy_handoffs_total"], m["dormouse_imap_proxy_handoff_watches"])
	}
	for len(events) > 0 { // the fill's and the sessions' own
		<-events
	}

	writeExternally(t, srv, "alice", "1765000000.M1P1.external")
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind == mailstore.MessagesAdded && ev.User == "alice" && ev.Mailbox == "INBOX" {
				return
			}
		case <-deadline:
			t.Fatal("no MessagesAdded event for alice's INBOX within 20 s of another program's write while her session slept at its proxy")
		}
	}
}

// TestProxyHopHandoffWatchBounds: past HandoffWatchMax mailboxes a
// handoff holds nothing and is counted; a hold ends with its lease (the
// idle timeout after the latest handoff, or HandoffWatchLease when set),
// and its room is then free.
func TestProxyHopHandoffWatchBounds(t *testing.T) {
	t.Run("max", func(t *testing.T) {
		srv := startHopWatch(t, func(c *imapserver.Config) { c.HandoffWatchMax = 1 })
		handOffIdle(t, srv, "alice")
		handOffIdle(t, srv, "bob")
		m := testserver.Gather(t, srv.Metrics)
		if m["dormouse_imap_proxy_handoff_watches"] != 1 || m["dormouse_imap_proxy_handoff_watch_full_total"] != 1 {
			t.Errorf("two mailboxes handed off with room for one: held %v, full %v; want 1 and 1",
				m["dormouse_imap_proxy_handoff_watches"], m["dormouse_imap_proxy_handoff_watch_full_total"])
		}
	})
	for _, tc := range []struct {
		name      string
		configure func(*imapserver.Config)
	}{
		{"lease", func(c *imapserver.Config) { c.Limits.IdleTimeout = time.Second }},
		{"lease of its own", func(c *imapserver.Config) { c.HandoffWatchLease = time.Second }}, // the idle timeout stays 30 min
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startHopWatch(t, func(c *imapserver.Config) {
				c.HandoffWatchMax = 1
				tc.configure(c)
			})
			handOffIdle(t, srv, "alice")
			testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_proxy_handoff_watches", 0)
			// Room again: bob's handoff now holds.
			handOffIdle(t, srv, "bob")
			if m := testserver.Gather(t, srv.Metrics); m["dormouse_imap_proxy_handoff_watch_full_total"] != 0 {
				t.Errorf("bob's handoff after alice's lease ended was refused a hold: %v", m)
			}
		})
	}
}
