package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// `dormouse who` lists the running server's connections, awake and asleep,
// and `dormouse kick USER` ends all of one user's (a sleeper with a BYE),
// over the admin socket in the data folder, which only its owner may use.
func TestWhoAndKick(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	addTestUser(t, data, "bob", "bob-pw")
	d := startDaemon(t, data, "--hibernate-after", "100ms")

	if fi, err := os.Stat(filepath.Join(data, adminSocketName)); err != nil {
		t.Fatal(err)
	} else if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode %v, want a socket with 0600", fi.Mode())
	}

	sleeper := dialIMAP(t, d.imap, nil)
	sleeper.MustOK("LOGIN alice alice-pw")
	sleeper.MustOK("SELECT INBOX")
	sleeper.Send("i1 IDLE")
	if l := sleeper.ReadLine(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	quiet := dialIMAP(t, d.imap, nil) // sleeps between commands
	quiet.MustOK("LOGIN alice alice-pw")
	bob := dialIMAP(t, d.imap, nil)
	bob.MustOK("LOGIN bob bob-pw")
	dialIMAP(t, d.imap, nil) // not logged in

	who := func() string {
		t.Helper()
		code, out, stderr := runDormouse(t, "", "who", "--data", data)
		if code != 0 {
			t.Fatalf("who: exit %d: %s", code, stderr)
		}
		return out
	}
	// Wait (on what who reports) until the IDLE connection and the
	// quiet logged-in ones are asleep.
	var out string
	testserver.Eventually(testserver.Patience, func() bool { out = who(); return strings.Contains(out, "3 asleep") })
	for _, want := range []string{
		`(?m)^alice +asleep +INBOX +127\.0\.0\.1:\d+ `,
		`(?m)^alice +asleep +- +127\.0\.0\.1:\d+ `,
		`(?m)^bob +asleep +- +127\.0\.0\.1:\d+ `,
		`(?m)^- +awake +- +127\.0\.0\.1:\d+ `,
		`(?m)^4 connections: 1 awake, 3 asleep$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("who does not match %s:\n%s", want, out)
		}
	}

	code, out, stderr := runDormouse(t, "", "kick", "--data", data, "alice")
	if code != 0 || !strings.Contains(out, "alice: 2 connections ended") {
		t.Fatalf("kick alice: exit %d: %s%s\nwho after:\n%s", code, out, stderr, who())
	}
	for name, c := range map[string]*imaptest.Client{"sleeper": sleeper, "quiet": quiet} {
		if l := c.ReadLine(); l != "* BYE Disconnected by the administrator" {
			t.Errorf("the %s heard %q, want the BYE", name, l)
		}
	}
	for name, c := range map[string]*imaptest.Client{"sleeper": sleeper, "quiet": quiet} {
		c.NetConn().SetReadDeadline(time.Now().Add(15 * time.Second))
		if l, err := c.Reader().ReadString('\n'); err == nil {
			t.Errorf("%s connection still open after kick: read %q", name, l)
		}
	}
	bob.MustOK("NOOP") // answered asleep
	if out := who(); strings.Contains(out, "alice") || !strings.Contains(out, "2 connections: 1 awake, 1 asleep") {
		t.Errorf("who after kick:\n%s", out)
	}
	if _, out, _ := runDormouse(t, "", "kick", "--data", data, "carol"); !strings.Contains(out, "carol: 0 connections ended") {
		t.Errorf("kick of a user without connections: %q", out)
	}
	// The same user logs in again at once: kick is not a ban.
	dialIMAP(t, d.imap, nil).MustOK("LOGIN alice alice-pw")

	d.stop(syscall.SIGTERM)
	if _, err := os.Stat(filepath.Join(data, adminSocketName)); err == nil {
		t.Error("admin socket left behind after the server stopped")
	}
	if code, _, stderr := runDormouse(t, "", "who", "--data", data); code != exitTempFail || !strings.Contains(stderr, "no server running") {
		t.Errorf("who without a server: exit %d, %q", code, stderr)
	}
}
