package interop

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestInterimapNotify runs interimap --notify (Debian's interimap 0.5)
// between two users of one hibernating Dormouse: it uses NOTIFY when the
// server offers it (NOTIFY SET STATUS with MAILBOXES and SELECTED, then
// PERSONAL's MailboxName and SubscriptionChange) and then waits for
// what the server pushes, without IDLE and without a command; it polls
// only every 900 s (its --watch default with --notify). A message
// delivered to one side, and a flag set later on either side, must reach
// the other side within seconds: only a NOTIFY push, delivered to a
// hibernated connection between commands, can make it. Before NOTIFY
// existed interimap stopped at once: "Server did not advertise NOTIFY".
//
// The flag set on the remote side, on the message interimap copied from
// there, must stay and reach the local copy: interimap pushes it with a
// UID STORE (UNCHANGEDSINCE) of the HIGHESTMODSEQ it knows of the local
// mailbox. Dormouse did not tell it the one its own APPEND made (Dovecot
// sends OK [HIGHESTMODSEQ] after the EXISTS); the STORE failed with
// MODIFIED and interimap copied the local flags back over the remote
// ones: the user's flag was lost (docs/reliability.md, "interimap
// overwrote a flag set on the other side").
func TestInterimapNotify(t *testing.T) {
	bin := requireTool(t, "interimap")
	for _, side := range []string{"local", "remote"} {
		t.Run("flag set on the "+side+" side", func(t *testing.T) {
			testInterimapNotify(t, bin, side)
		})
	}
}

// testInterimapNotify is TestInterimapNotify with the flag set on side.
func testInterimapNotify(t *testing.T, bin, side string) {
	srv := testserver.Start(t, hibernating)
	remote := serverAt(t, srv.Addr, srv.Alice)
	local := serverAt(t, srv.Addr, srv.Bob)
	home := clientHome(t, t.TempDir(), "interimap")
	cfg := writeInterimapConfig(t, home, local, remote)

	env := append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
	// The first sync creates the database (the long-lived mode does
	// not).
	first := exec.Command(bin, "--config="+cfg)
	first.Env = env
	runScript(t, 90*time.Second, first)

	out := newTranscript(t, "interimap --notify --debug")
	cmd := exec.Command(bin, "--config="+cfg, "--notify", "--debug")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	// interimap's two connections have synced, set NOTIFY and wait:
	// both hibernate (quiet between commands, after 1 ms; they may
	// have slept between their commands before too).
	asleep := func() bool {
		return testserver.Gather(t, srv.Metrics)["dormouse_imap_connections,state=hibernated"] == 2
	}
	// interimap sends two NOTIFY SETs on each side, the first with
	// STATUS.
	waitOrExit(t, "interimap sets NOTIFY on both sides and its connections hibernate", exited, out, func() bool {
		return strings.Count(out.String(), "OK NOTIFY completed") == 4 && asleep()
	})
	if strings.Count(out.String(), "NOTIFY SET STATUS") != 2 {
		t.Fatalf("interimap did not send NOTIFY SET STATUS on both sides")
	}

	// A delivery to alice (remote), by an MDA: copied to bob (local).
	start := time.Now()
	srv.Deliver(t, srv.Alice.Name, simpleMessage("notify-1", "pushed", "Hello"))
	bob := srv.Login(t, srv.Bob)
	waitOrExit(t, "the delivered message reaches the local side", exited, out, func() bool {
		return messages(t, bob, "INBOX") == 1
	})
	t.Logf("delivery synced after %v", time.Since(start).Round(time.Millisecond))

	// A flag set on one side: FlagChange reaches the other copy, and
	// the flag stays where it was set.
	waitOrExit(t, "interimap's connections hibernate again", exited, out, func() bool {
		// bob's session (this test's) may sleep too.
		return testserver.Gather(t, srv.Metrics)["dormouse_imap_connections,state=hibernated"] >= 2
	})
	setter, setterUser := bob, "b"
	if side == "remote" {
		setter, setterUser = srv.Login(t, srv.Alice), "a"
	}
	setter.Cmd(setterUser + "2 SELECT INBOX")
	setter.Cmd(setterUser + `3 STORE 1 +FLAGS (\Flagged)`)
	setter.Cmd(setterUser + "4 LOGOUT")
	// Read-only sessions watch both copies.
	watch := func(u testserver.User) func() bool {
		c := srv.Login(t, u)
		c.Cmd("e EXAMINE INBOX")
		return func() bool {
			lines := c.Cmd("f FETCH 1 (FLAGS)")
			return len(lines) > 1 && strings.Contains(lines[len(lines)-2], `\Flagged`)
		}
	}
	remoteFlagged, localFlagged := watch(srv.Alice), watch(srv.Bob)
	waitOrExit(t, "the flag is on both sides", exited, out, func() bool {
		return remoteFlagged() && localFlagged()
	})
	got := testserver.Gather(t, srv.Metrics)
	if n := got["dormouse_imap_hibernated_served_total,kind=notify"] + got["dormouse_imap_hibernated_served_total,kind=update"]; n == 0 {
		t.Errorf("no NOTIFY push was served to a hibernated connection: %v", got)
	}
}

// waitOrExit waits for cond as testserver.WaitFor does, but fails at once
// with interimap's output if it exits meanwhile.
func waitOrExit(t *testing.T, what string, exited chan error, out *transcript, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s: interimap exited (%v):\n%s", what, err, tail(out.String()))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60 s (interimap polls every 900 s)", what)
		}
	}
}

// messages returns the message count of a mailbox, by STATUS.
func messages(t *testing.T, c *testserver.Client, mailbox string) int {
	t.Helper()
	for _, l := range c.Cmd("s STATUS " + mailbox + " (MESSAGES)") {
		var n int
		if _, err := fmt.Sscanf(l, "* STATUS "+mailbox+" (MESSAGES %d)", &n); err == nil {
			return n
		}
	}
	t.Fatalf("no STATUS for %s", mailbox)
	return 0
}
