package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestThunderbirdAsleepBetweenKeepalives runs the thunderbird kind (five
// connections over TLS: four in IDLE on INBOX, Drafts, Sent, Archive,
// one authenticated and quiet; each keepalive answered with DONE, NOOP,
// GETQUOTAROOT, on INBOX `UID FETCH <uidnext>:* (FLAGS)`, then IDLE)
// against a server
// whose keepalive comes every second: between keepalives all five
// connections are asleep, and over three rounds of keepalives no full
// wake happens (wakes_total, keepalive_wakes_total). A delivery is seen
// at once, and fetched (a wake: real work), and the five sleep again.
func TestThunderbirdAsleepBetweenKeepalives(t *testing.T) {
	srv := testserver.Start(t, testserver.WithTLS(true), testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = 20 * time.Millisecond
		c.IdleKeepalive = time.Second
	}))
	c, err := parseFlags(newFlagSet(), []string{
		"-addr", srv.Addr, "-users", "1", "-user-fmt", srv.Alice.Name, "-password", srv.Alice.Password,
		"-mix", "thunderbird=100", "-reidle", "100ms", "-step-timeout", "15s",
	})
	if err != nil {
		t.Fatal(err)
	}
	c.TLS = srv.TLS
	f := newFleet(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	k, _ := lookupKind("thunderbird")
	f.start(ctx, &wg, 0, k)
	st := f.stats["thunderbird"]
	waitFor(t, "five connections open", func() bool { return st.open.Load() == 5 || st.failed.Load() > 0 })
	if st.failed.Load() > 0 {
		t.Fatalf("client failed: %s", st.lastErr)
	}
	asleep := func() { testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 5) }
	asleep()
	const wakes = "dormouse_imap_wakes_total,cause=client"
	base := testserver.Gather(t, srv.Metrics)
	keepaliveWakes := func(m map[string]float64) (n float64) {
		for k, v := range m {
			if len(k) > 36 && k[:36] == "dormouse_imap_keepalive_wakes_total," {
				n += v
			}
		}
		return n
	}
	for round := int64(1); round <= 3; round++ {
		// Each of the four IDLE connections answers its keepalive.
		waitFor(t, "keepalives answered", func() bool { return st.answered.Load() >= 4*round })
		asleep()
	}
	got := testserver.Gather(t, srv.Metrics)
	if w := got[wakes] - base[wakes]; w != 0 {
		t.Errorf("full wakes over three keepalive rounds: %v, want 0 (wake commands: %v)", w, byPrefix(got, "dormouse_imap_wake_commands_total,"))
	}
	if n := keepaliveWakes(got); n != 0 {
		t.Errorf("keepalive wakes %v, want 0", n)
	}
	if n := got["dormouse_imap_commands_total,command=FETCH,result=ok"] - base["dormouse_imap_commands_total,command=FETCH,result=ok"]; n < 3 {
		t.Errorf("UID FETCH answered %v times in three rounds, want ≥ 3", n)
	}

	if n := got["dormouse_imap_commands_total,command=GETQUOTAROOT,result=ok"] - base["dormouse_imap_commands_total,command=GETQUOTAROOT,result=ok"]; n < 12 {
		t.Errorf("GETQUOTAROOT answered %v times in three rounds of four folders, want ≥ 12", n)
	}

	// New mail: seen at once on INBOX, fetched, then all asleep again.
	p := f.expect(srv.Alice.Name)
	srv.Deliver(t, srv.Alice.Name, "From: a@example.org\r\nSubject: new\r\n\r\nhello\r\n")
	select {
	case <-p.seen:
	case <-time.After(15 * time.Second):
		t.Fatal("the delivery was not seen within 15 s")
	}
	asleep()
	// Counted from here: the fetch of the new mail is a wake, credited
	// to a keepalive when one was written just before it (the mark
	// lasts until the client's next IDLE).
	kw := keepaliveWakes(testserver.Gather(t, srv.Metrics))
	before := st.answered.Load()
	waitFor(t, "another keepalive round", func() bool { return st.answered.Load() >= before+4 })
	asleep()
	if n := keepaliveWakes(testserver.Gather(t, srv.Metrics)) - kw; n != 0 {
		t.Errorf("keepalive wakes after new mail %v, want 0", n)
	}
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func byPrefix(m map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out[k[len(prefix):]] = v
		}
	}
	return out
}

// TestDeliverySeenInNOOP: a delivery that a client learns of in the
// responses to its NOOP (Thunderbird's keepalive answer, between DONE
// and the next IDLE) counts as seen, and apart: the server tells it
// there and not again at the next IDLE, so a tool that only counted
// EXISTS read in IDLE waited out -wake-timeout for it.
func TestDeliverySeenInNOOP(t *testing.T) {
	srv := testserver.Start(t, testserver.WithTLS(true))
	c, err := parseFlags(newFlagSet(), []string{
		"-addr", srv.Addr, "-users", "1", "-user-fmt", srv.Alice.Name, "-password", srv.Alice.Password,
		"-mix", "thunderbird=100", "-step-timeout", "15s",
	})
	if err != nil {
		t.Fatal(err)
	}
	c.TLS = srv.TLS
	f := newFleet(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	k, _ := lookupKind("thunderbird")
	cl := &client{f: f, k: k, st: f.stats[k.name], user: srv.Alice.Name}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cn, err := cl.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cn.selectFolder("INBOX", ""); err != nil {
		t.Fatal(err)
	}
	p := f.expect(srv.Alice.Name)
	srv.Deliver(t, srv.Alice.Name, "From: a@example.org\r\nSubject: new\r\n\r\nhello\r\n")
	// NOOP until the server has the message (its watcher runs apart).
	deadline := time.Now().Add(time.Minute)
	for cn.exists == 0 && time.Now().Before(deadline) {
		if _, err := cn.run("NOOP", nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-p.seen:
	default:
		t.Fatalf("EXISTS %d read in a NOOP's responses, the delivery not seen", cn.exists)
	}
	if n := cl.st.seenInCommand.Load(); n != 1 {
		t.Errorf("seen in a command's responses: %d, want 1", n)
	}
}
