package imapserver_test

import (
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// Sessions and Kick from another goroutine than the sessions' (as the
// admin socket calls them), while the sessions log in, idle and sleep: run
// with -race, this checks what they read across goroutines.
func TestSessionsAndKick(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
	}))
	sleeper := srv.Login(t, srv.Alice)
	sleeper.Cmd("s SELECT INBOX")
	sleeper.Send("i IDLE")
	sleeper.Expect("+ idling")
	quiet := srv.Login(t, srv.Alice) // sleeps between commands, nothing selected
	bob := srv.Login(t, srv.Bob)

	count := func() (asleep, alice, total int) {
		for _, s := range srv.IMAP.Sessions() {
			total++
			if s.User == "alice" {
				alice++
			}
			if s.Asleep {
				asleep++
				if s.Remote == "" || s.Mailbox != "" && (s.User != "alice" || s.Mailbox != "INBOX") {
					t.Errorf("sleeper listed as %+v", s)
				}
			}
		}
		return asleep, alice, total
	}
	testserver.WaitFor(t, "the IDLE session and the quiet ones hibernate", func() bool {
		asleep, _, _ := count()
		return asleep == 3
	})
	if _, alice, total := count(); alice != 2 || total != 3 {
		t.Fatalf("Sessions: %d of alice, %d in all; want 2, 3", alice, total)
	}
	if kicked, waking := srv.IMAP.Kick("alice"); kicked != 2 || waking != 0 {
		t.Fatalf("Kick = %d, %d; want 2, 0", kicked, waking)
	}
	if lines := sleeper.ExpectClosed(); len(lines) != 1 || lines[0] != "* BYE Disconnected by the administrator" {
		t.Errorf("the sleeper heard %q", lines)
	}
	if lines := quiet.ExpectClosed(); len(lines) != 1 || lines[0] != "* BYE Disconnected by the administrator" {
		t.Errorf("the quiet sleeper heard %q", lines)
	}
	bob.Cmd("n NOOP")
	if _, alice, total := count(); alice != 0 || total != 1 {
		t.Errorf("after Kick: %d of alice, %d in all; want 0, 1", alice, total)
	}
}
