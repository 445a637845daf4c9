//go:build linux

package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/handover"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// startTakeover starts `dormouse serve --takeover` beside old, on the same
// data folder and addresses, and waits until it has taken over (its
// "dormouse started" comes after the adoption).
func startTakeover(t *testing.T, old *daemon, data string, extra ...string) *daemon {
	t.Helper()
	d := &daemon{
		t: t, imap: old.imap, imaps: old.imaps, lmtp: old.lmtp, metric: old.metric,
		stdout: &lockedBuffer{}, stderr: &lockedBuffer{},
		exited: make(chan struct{}),
	}
	args := append([]string{"serve", "--data", data, "--takeover",
		"--imap", d.imap, "--imaps", d.imaps, "--lmtp", d.lmtp, "--metrics", d.metric}, extra...)
	d.run(t, "", args)
	started := func() bool {
		select {
		case <-d.exited:
			return true
		default:
		}
		return strings.Contains(d.stderr.String(), `msg="dormouse started"`)
	}
	if !testserver.Eventually(testserver.Patience, started) {
		t.Fatalf("dormouse serve --takeover not started after %v\nstderr:\n%s", testserver.Patience, d.stderr.String())
	}
	select {
	case <-d.exited:
		t.Fatalf("dormouse serve --takeover exited: %v\nstderr:\n%s", d.exitErr, d.stderr.String())
	default:
	}
	return d
}

// waitExit waits for d to exit by itself and returns its exit code.
func (d *daemon) waitExit() int {
	d.t.Helper()
	select {
	case <-d.exited:
	case <-time.After(testserver.Patience):
		d.t.Fatalf("dormouse serve did not exit within %v\nstderr:\n%s", testserver.Patience, d.stderr.String())
	}
	if d.exitErr != nil {
		d.t.Fatalf("exit: %v\nstderr:\n%s", d.exitErr, d.stderr.String())
	}
	return 0
}

// readUntil reads c's lines until one matches re, failing on a BYE: a
// client of a working upgrade never hears one.
func readUntil(t *testing.T, c *imaptest.Client, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for {
		l := c.ReadLine()
		if strings.HasPrefix(l, "* BYE") {
			t.Fatalf("client heard %q waiting for %s", l, re)
		}
		if rx.MatchString(l) {
			return l
		}
	}
}

// The acceptance test of an upgrade: a second `dormouse serve --takeover`
// takes over the listeners and every hibernated connection (in IDLE, or
// between commands after a DONE answered asleep) and every quiet awake
// one (selected, waiting for a command); the old process exits;
// a delivery then reaches each connection on its original TCP connection,
// which goes on answering commands. Nobody hears a BYE or reconnects.
func TestUpgradeKeepsSleepers(t *testing.T) {
	const users, perUser, between, awake = 10, 20, 10, 10 // 210 connections
	data := t.TempDir()
	for u := range users {
		addTestUser(t, data, fmt.Sprintf("u%d", u), "pw")
	}
	old := startDaemon(t, data, "--hibernate-after", "100ms")

	type client struct {
		c     *imaptest.Client
		user  int
		local string
		idle  bool
	}
	var clients []*client
	for i := range users * perUser {
		u := i % users
		c := dialIMAP(t, old.imap, nil)
		c.MustOK(fmt.Sprintf("LOGIN u%d pw", u))
		c.MustOK("SELECT INBOX")
		c.Send("i IDLE")
		if l := c.ReadLine(); !strings.HasPrefix(l, "+") {
			t.Fatalf("IDLE: %q", l)
		}
		clients = append(clients, &client{c: c, user: u, local: c.NetConn().LocalAddr().String(), idle: true})
	}
	hibernated := func(d *daemon, n int) {
		t.Helper()
		series := `dormouse_imap_connections{state="hibernated"}`
		testserver.WaitFor(t, fmt.Sprintf("%d connections hibernated", n), func() bool { return metricValue(t, d.metric, series) == float64(n) })
	}
	hibernated(old, len(clients))
	// Some end their IDLE, answered asleep: they wait between commands.
	for _, cl := range clients[:between] {
		cl.c.Send("DONE")
		readUntil(t, cl.c, `^i OK`)
		cl.idle = false
	}
	hibernated(old, len(clients))
	asleep := len(clients)
	// Others never IDLE: awake, quiet between commands, they move too.
	for u := range awake {
		c := dialIMAP(t, old.imap, nil)
		c.MustOK(fmt.Sprintf("LOGIN u%d pw", u))
		c.MustOK("SELECT INBOX")
		clients = append(clients, &client{c: c, user: u, local: c.NetConn().LocalAddr().String()})
	}
	if v := metricValue(t, old.metric, `dormouse_imap_connections{state="hibernated"}`); v != float64(asleep) {
		t.Fatalf("%v hibernated before the upgrade, want %d (the awake ones awake)", v, asleep)
	}

	start := time.Now()
	nu := startTakeover(t, old, data, "--hibernate-after", "100ms")
	if code := old.waitExit(); code != 0 {
		t.Fatalf("old process exit code %d", code)
	}
	t.Logf("handover: %v from start to the old process's exit", time.Since(start))
	if !strings.Contains(old.stderr.String(), fmt.Sprintf("moved=%d", len(clients))) {
		t.Errorf("old process's log does not say %d moved:\n%s", len(clients), grepLines(old.stderr.String(), "upgrade"))
	}
	hibernated(nu, len(clients))
	if v := metricValue(t, nu.metric, "dormouse_imap_upgrade_moved_total"); v != float64(len(clients)) {
		t.Errorf("upgrade_moved_total %v, want %d", v, len(clients))
	}

	for u := range users {
		lmtpSend(t, nu.lmtp, fmt.Sprintf("u%d@example.org", u), fmt.Sprintf("Subject: after the upgrade %d\r\n\r\nhello\r\n", u))
	}
	for _, cl := range clients {
		if got := cl.c.NetConn().LocalAddr().String(); got != cl.local {
			t.Fatalf("client reconnected: %s, was %s", got, cl.local)
		}
		if cl.idle {
			readUntil(t, cl.c, `^\* 1 EXISTS$`)
			cl.c.Send("DONE")
			readUntil(t, cl.c, `^i OK`)
			cl.c.MustOK("NOOP")
		} else {
			lines := cl.c.MustOK("NOOP")
			if !strings.Contains(strings.Join(lines, "\n"), "* 1 EXISTS") {
				t.Fatalf("NOOP between commands after the delivery: %q, want * 1 EXISTS", lines)
			}
		}
		lines := cl.c.MustOK("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
		if want := fmt.Sprintf("Subject: after the upgrade %d", cl.user); !strings.Contains(strings.Join(lines, "\n"), want) {
			t.Fatalf("FETCH: %q, want %q", lines, want)
		}
	}
	// The new process serves the admin socket and can be upgraded again.
	// A connection the test has closed may still be counted a moment
	// (its lingering close): wait for the count to settle.
	var whoCode int
	var whoOut, whoErr string
	if !testserver.Eventually(testserver.Patience, func() bool {
		whoCode, whoOut, whoErr = runDormouse(t, "", "who", "--data", data)
		return whoCode == 0 && strings.Contains(whoOut, fmt.Sprintf("%d connections", len(clients)))
	}) {
		t.Errorf("who after the upgrade: exit %d: %s%s", whoCode, whoOut, whoErr)
	}
	if fi, err := os.Stat(filepath.Join(data, upgradeSocketName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("handover socket after the upgrade: %v %v, want mode 0600", fi, err)
	}
	if code := nu.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM = %d", code)
	}
}

// A TLS 1.3 sleeper (on its record state) moves beside a plain one and
// goes on in the new process; what cannot move is told BYE and counted:
// a TLS 1.2 sleeper (Go cannot export a tls.Conn).
func TestUpgradeMovesTLS13SaysByeToTLS12(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	old := startDaemon(t, data, "--hibernate-after", "100ms")

	idle := func(c *imaptest.Client) {
		t.Helper()
		c.MustOK("LOGIN alice alice-pw")
		c.MustOK("SELECT INBOX")
		c.Send("i IDLE")
		if l := c.ReadLine(); !strings.HasPrefix(l, "+") {
			t.Fatalf("IDLE: %q", l)
		}
	}
	plain := dialIMAP(t, old.imap, nil)
	idle(plain)
	secure := dialIMAP(t, old.imaps, caConfig(t, data))
	idle(secure)
	cfg12 := caConfig(t, data)
	cfg12.MaxVersion = tls.VersionTLS12
	secure12 := dialIMAP(t, old.imaps, cfg12)
	idle(secure12)
	testserver.WaitFor(t, "3 connections hibernated", func() bool {
		return metricValue(t, old.metric, `dormouse_imap_connections{state="hibernated"}`) == 3
	})

	nu := startTakeover(t, old, data, "--hibernate-after", "100ms")
	if l := secure12.ReadLine(); l != "* BYE Server restarting, please reconnect" {
		t.Errorf("TLS 1.2 sleeper heard %q, want the BYE", l)
	}
	secure12.ExpectClosed()
	old.waitExit()
	if log := old.stderr.String(); !strings.Contains(log, "moved=2") || !strings.Contains(log, "not_moved=map[tls:1]") {
		t.Errorf("old process's log does not count 2 moved and 1 TLS not moved:\n%s", grepLines(log, "upgrade"))
	}
	if v := metricValue(t, nu.metric, `dormouse_imap_upgrade_not_moved_total{reason="tls"}`); v != 1 {
		t.Errorf("upgrade_not_moved_total{tls} = %v, want 1", v)
	}
	lmtpSend(t, nu.lmtp, "alice@example.org", "Subject: hello\r\n\r\nhello\r\n")
	for _, c := range []*imaptest.Client{plain, secure} {
		readUntil(t, c, `^\* 1 EXISTS$`)
		c.Send("DONE")
		readUntil(t, c, `^i OK`)
		c.MustOK("NOOP")
	}
	// A new IMAPS connection is served by the new process.
	dialIMAP(t, nu.imaps, caConfig(t, data)).MustOK("LOGIN alice alice-pw")
	nu.stop(syscall.SIGTERM)
}

// Without a server to take over, --takeover fails at once and says why.
func TestTakeoverWithoutServer(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	code, _, stderr := runDormouse(t, "", "serve", "--data", data, "--takeover", "--imap", freeAddr(t), "--imaps", "", "--lmtp", "", "--metrics", "")
	if code != exitTempFail || !strings.Contains(stderr, "no dormouse to take over") {
		t.Errorf("exit %d, %q; want %d and a reason", code, stderr, exitTempFail)
	}
}

// A new process that goes away before it serves the listeners (here: one
// that hangs up after receiving them) leaves the old one serving, with
// its admin and handover sockets back, so that a later takeover works.
func TestUpgradeAbortedKeepsServing(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	old := startDaemon(t, data, "--hibernate-after", "100ms")
	c := dialIMAP(t, old.imap, nil)
	c.MustOK("LOGIN alice alice-pw")

	hc, err := handover.Dial(filepath.Join(data, upgradeSocketName))
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := hc.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if m.FD >= 0 {
			syscall.Close(m.FD)
		}
		if m.Kind == handover.Listeners {
			break
		}
	}
	hc.Close() // no Ready

	testserver.WaitFor(t, "the handover socket back", func() bool {
		_, err := os.Stat(filepath.Join(data, upgradeSocketName))
		return err == nil && strings.Contains(old.stderr.String(), "upgrade failed; serving on")
	})
	c.MustOK("NOOP")
	c2 := dialIMAP(t, old.imap, nil)
	c2.MustOK("LOGIN alice alice-pw")
	if code, out, stderr := runDormouse(t, "", "who", "--data", data); code != 0 || !strings.Contains(out, "2 connections") {
		t.Errorf("who after the failed upgrade: exit %d: %s%s", code, out, stderr)
	}
	// Logged out: awake sessions would make the takeover wait its grace.
	for _, c := range []*imaptest.Client{c, c2} {
		c.Send("z LOGOUT")
		c.ExpectClosed()
	}
	nu := startTakeover(t, old, data)
	old.waitExit()
	nu.stop(syscall.SIGTERM)
}
