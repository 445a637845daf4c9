package imapserver_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// notifyStep is one step of a NOTIFY case: the watching client n plays a
// transcript (what it sends and what it must be told, pushed or in
// answer), or the acting client c runs commands whose tagged answers must
// be OK, or n must be told nothing for a while.
type notifyStep struct {
	n       string   // n's transcript
	nc      []string // n's commands whose answers only need be OK
	c       []string // c's commands ("tag CMD args")
	nothing bool     // n is told nothing (within silence)
}

// silence is how long a step checks that nothing was pushed: a push
// that should not come would come within it on any machine; a wrong
// silence can only pass, not fail, a correct server.
const silence = 300 * time.Millisecond

// status matches the STATUS NOTIFY pushes for a mailbox other than the
// selected one (UIDVALIDITY differs between stores).
func status(name string, messages, uidnext, unseen int) string {
	return fmt.Sprintf(`S~ \* STATUS %s \(MESSAGES %d UIDNEXT %d UIDVALIDITY \d+ UNSEEN %d\)`, name, messages, uidnext, unseen)
}

// appendCmd is an APPEND of test message n to mailbox, with a
// non-synchronizing literal, for notifyStep.c.
func appendCmd(tag, mailbox string, n int) string {
	m := testMessage(n)
	return fmt.Sprintf("%s APPEND %s {%d+}\r\n%s", tag, mailbox, len(m), m)
}

// TestNotify plays, for each NOTIFY filter and event, a watching session
// told of another session's changes without sending a command (NOTIFY
// pushes outside IDLE), with hibernation off and after 1 ms: what the
// client is told is the same, asleep or awake. Each case fails on a
// server without NOTIFY (its SET is BAD).
func TestNotify(t *testing.T) {
	setup := []string{"s1 CREATE Work", "s2 CREATE Work/2026", "s3 CREATE Lists", "s4 SUBSCRIBE Work", "s5 UNSUBSCRIBE Lists"}
	cases := []struct {
		name  string
		steps []notifyStep
	}{
		{name: "personal MessageNew and MessageExpunge", steps: []notifyStep{
			{n: "C: n1 NOTIFY SET (PERSONAL (MessageNew MessageExpunge))\nS: n1 OK NOTIFY completed"},
			{c: []string{appendCmd("c1", "Work", 1)}},
			{n: status("Work", 1, 2, 1)},
			{c: []string{"c2 SELECT Work", `c3 STORE 1 +FLAGS.SILENT (\Deleted)`, "c4 EXPUNGE", "c5 UNSELECT"}},
			{n: status("Work", 0, 2, 0)},
		}},
		{name: "inboxes", steps: []notifyStep{
			{n: "C: n1 NOTIFY SET (INBOXES (MessageNew MessageExpunge))\nS: n1 OK NOTIFY completed"},
			{c: []string{appendCmd("c1", "Work", 1), appendCmd("c2", "INBOX", 2)}},
			{n: status("INBOX", 1, 2, 1)},
		}},
		{name: "subscribed", steps: []notifyStep{
			{n: "C: n1 NOTIFY SET (SUBSCRIBED (MessageNew MessageExpunge))\nS: n1 OK NOTIFY completed"},
			{c: []string{appendCmd("c1", "Lists", 1), appendCmd("c2", "Work", 2)}},
			{n: status("Work", 1, 2, 1)},
		}},
		{name: "subtree", steps: []notifyStep{
			{n: "C: n1 NOTIFY SET (SUBTREE Work (MessageNew MessageExpunge))\nS: n1 OK NOTIFY completed"},
			{c: []string{appendCmd("c1", "Lists", 1), appendCmd("c2", "Work/2026", 2)}},
			{n: status("Work/2026", 1, 2, 1)},
		}},
		{name: "mailboxes, and a NONE group first", steps: []notifyStep{
			{n: "C: n1 NOTIFY SET (MAILBOXES Lists NONE) (MAILBOXES (Work Lists) (MessageNew MessageExpunge))\nS: n1 OK NOTIFY completed"},
			{c: []string{appendCmd("c1", "Work/2026", 1), appendCmd("c2", "Lists", 2), appendCmd("c3", "Work", 3)}},
			{n: status("Work", 1, 2, 1)},
		}},
		{name: "FlagChange with CONDSTORE", steps: []notifyStep{
			{c: []string{appendCmd("c1", "Work", 1)}},
			{n: "C: n0 ENABLE CONDSTORE\nS: * ENABLED CONDSTORE\nS: n0 OK ENABLE completed\n" +
				"C: n1 NOTIFY SET (PERSONAL (MessageNew MessageExpunge FlagChange))\nS: n1 OK NOTIFY completed"},
			{c: []string{"c2 SELECT Work", `c3 STORE 1 +FLAGS.SILENT (\Seen)`, "c4 UNSELECT"}},
			{n: `S~ \* STATUS Work \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 0 HIGHESTMODSEQ \d+\)`},
		}},
		{name: "MailboxName", steps: []notifyStep{
			{n: "C: n1 NOTIFY SET (PERSONAL (MailboxName))\nS: n1 OK NOTIFY completed"},
			{c: []string{"c1 CREATE Projects"}},
			{n: `S: * LIST () "/" Projects`},
			{c: []string{"c2 RENAME Projects Done"}},
			{n: `S: * LIST () "/" Done ("OLDNAME" (Projects))`},
			{c: []string{"c3 DELETE Done"}},
			{n: `S: * LIST (\NonExistent) "/" Done`},
		}},
		{name: "SubscriptionChange", steps: []notifyStep{
			{n: "C: n1 NOTIFY SET (PERSONAL (SubscriptionChange))\nS: n1 OK NOTIFY completed"},
			{c: []string{"c1 SUBSCRIBE Lists"}},
			{n: `S: * LIST (\Subscribed) "/" Lists`},
			{c: []string{"c2 UNSUBSCRIBE Lists"}},
			{n: `S: * LIST () "/" Lists`},
		}},
		{name: "MailboxMetadataChange and ServerMetadataChange", steps: []notifyStep{
			{n: "C: n1 NOTIFY SET (MAILBOXES Work (MailboxMetadataChange ServerMetadataChange))\nS: n1 OK NOTIFY completed"},
			{c: []string{`c1 SETMETADATA Lists (/private/comment "no")`, `c2 SETMETADATA Work (/private/comment "yes")`}},
			{n: `S: * METADATA Work /private/comment`},
			{c: []string{`c3 SETMETADATA "" (/private/comment "server")`}},
			{n: `S: * METADATA "" /private/comment`},
		}},
		{name: "selected: pushed between commands, expunges too", steps: []notifyStep{
			{c: []string{appendCmd("c1", "INBOX", 1)}},
			{nc: []string{"n1 SELECT INBOX"}},
			{n: "C: n2 NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange))\nS: n2 OK NOTIFY completed"},
			{c: []string{appendCmd("c2", "INBOX", 2)}},
			{n: "S: * 2 EXISTS\nS: * 2 RECENT"},
			{c: []string{"c3 SELECT INBOX", `c4 STORE 1 +FLAGS.SILENT (\Deleted)`}},
			{n: `S: * 1 FETCH (UID 1 FLAGS (\Deleted \Recent))`},
			{c: []string{"c5 EXPUNGE"}},
			{n: "S: * 1 EXPUNGE"},
			{n: "C: n3 FETCH 1 (UID)\nS: * 1 FETCH (UID 2)\nS: n3 OK FETCH completed"},
		}},
		{name: "selected-delayed: expunges wait for a command", steps: []notifyStep{
			{c: []string{appendCmd("c1", "INBOX", 1)}},
			{nc: []string{"n1 SELECT INBOX"}},
			{n: "C: n2 NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge))\nS: n2 OK NOTIFY completed"},
			{c: []string{"c2 SELECT INBOX", `c3 STORE 1 +FLAGS.SILENT (\Deleted)`, "c4 EXPUNGE"}},
			{nothing: true},
			{n: "C: n3 FETCH 1 (UID)\nS: * 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))\nS: * 1 FETCH (UID 1)\nS: n3 OK FETCH completed\n" +
				"C: n4 NOOP\nS: * 1 EXPUNGE\nS: n4 OK NOOP completed"},
		}},
		// A body section: asleep, the session wakes to FETCH it.
		{name: "selected MessageNew with fetch attributes", steps: []notifyStep{
			{nc: []string{"n1 SELECT INBOX"}},
			{n: "C: n2 NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS (Subject)]) MessageExpunge))\nS: n2 OK NOTIFY completed"},
			{c: []string{appendCmd("c1", "INBOX", 7)}},
			{n: "S: * 1 EXISTS\nS: * 1 RECENT\n" + `S: * 1 FETCH (UID 1 BODY[HEADER.FIELDS (Subject)] {20}\r\nSubject: Hello 7\r\n\r\n)`},
		}},
		// Attributes of the record and the envelope: asleep, written
		// in place.
		{name: "selected MessageNew with record attributes", steps: []notifyStep{
			{nc: []string{"n1 SELECT INBOX"}},
			{n: "C: n2 NOTIFY SET (SELECTED (MessageNew (UID FLAGS RFC822.SIZE ENVELOPE) MessageExpunge))\nS: n2 OK NOTIFY completed"},
			{c: []string{appendCmd("c1", "INBOX", 7)}},
			{n: "S: * 1 EXISTS\nS: * 1 RECENT\n" + `S~ \* 1 FETCH \(UID 1 FLAGS \(\\Recent\) RFC822.SIZE \d+ ENVELOPE \(.*"Hello 7".*\)\)`},
		}},
		{name: "own changes are not told back", steps: []notifyStep{
			{n: "C: n1 NOTIFY SET (PERSONAL (MailboxName SubscriptionChange MailboxMetadataChange))\nS: n1 OK NOTIFY completed"},
			{n: `C: n2 CREATE Mine/Sub
S~ n2 OK .*
C: n3 RENAME Mine Ours
S: n3 OK RENAME completed
C: n4 SUBSCRIBE Lists
S: n4 OK SUBSCRIBE completed
C: n5 SETMETADATA Lists (/private/comment "mine")
S: n5 OK SETMETADATA completed
C: n6 DELETE Ours/Sub
S: n6 OK DELETE completed`},
			{nothing: true},
			// Another session's change is told: nothing of n's own
			// waited before it.
			{c: []string{"c1 CREATE Other"}},
			{n: `S: * LIST () "/" Other`},
		}},
		{name: "in IDLE", steps: []notifyStep{
			{n: "C: n1 NOTIFY SET (PERSONAL (MessageNew MessageExpunge))\nS: n1 OK NOTIFY completed\nC: n2 IDLE\nS: + idling"},
			{c: []string{appendCmd("c1", "Lists", 1)}},
			{n: status("Lists", 1, 2, 1)},
			{n: "C: DONE\nS: n2 OK IDLE terminated"},
		}},
		{name: "STATUS at SET", steps: []notifyStep{
			{c: []string{appendCmd("c1", "Work", 1)}},
			{n: "C: n1 NOTIFY SET STATUS (MAILBOXES (Work Lists INBOX) (MessageNew MessageExpunge))\n" +
				status("INBOX", 0, 1, 0) + "\n" + status("Lists", 0, 1, 0) + "\n" + status("Work", 1, 2, 1) + "\nS: n1 OK NOTIFY completed"},
		}},
		{name: "NONE", steps: []notifyStep{
			{n: "C: n1 NOTIFY SET (PERSONAL (MessageNew MessageExpunge MailboxName))\nS: n1 OK NOTIFY completed\nC: n2 NOTIFY NONE\nS: n2 OK NOTIFY completed"},
			{c: []string{appendCmd("c1", "Work", 1), "c2 CREATE Other"}},
			{nothing: true},
			{n: "C: n3 NOOP\nS: n3 OK NOOP completed"},
		}},
		{name: "refusals", steps: []notifyStep{
			{n: `C: n1 NOTIFY SET (PERSONAL (AnnotationChange))
S: n1 NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)] Unsupported event AnnotationChange
C: n2 NOTIFY SET (SELECTED (MessageNew MessageExpunge AnnotationChange))
S~ n2 NO \[BADEVENT \(.*\)\] Unsupported event AnnotationChange
C: n3 NOTIFY SET (PERSONAL (Bogus))
S~ n3 NO \[BADEVENT \(.*\)\] Unsupported event Bogus
C: n4 NOTIFY SET (SELECTED (MessageNew))
S: n4 BAD MessageNew and MessageExpunge must be requested together
C: n5 NOTIFY SET (PERSONAL (MessageExpunge))
S: n5 BAD MessageNew and MessageExpunge must be requested together
C: n6 NOTIFY SET (PERSONAL (FlagChange))
S: n6 BAD FlagChange requires MessageNew and MessageExpunge
C: n7 NOTIFY SET (SELECTED (MailboxName))
S: n7 BAD SELECTED and SELECTED-DELAYED take message events only
C: n8 NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (SELECTED-DELAYED (MessageNew MessageExpunge))
S: n8 BAD Only one SELECTED or SELECTED-DELAYED group is allowed
C: n9 NOTIFY SET (SELECTED (MessageNew (BODY[]) MessageExpunge))
S: n9 BAD MessageNew fetch attributes must not set \Seen (use BODY.PEEK)
C: n10 NOTIFY SET (PERSONAL (MessageNew (UID) MessageExpunge))
S: n10 BAD MessageNew fetch attributes apply to the selected mailbox only
C: n11 NOTIFY SET
S~ n11 BAD .*
C: n12 NOTIFY SET ()
S~ n12 BAD .*
C: n13 NOTIFY SET (BOGUS (MessageNew MessageExpunge))
S~ n13 BAD .*
C: n14 NOTIFY SET (PERSONAL MessageNew)
S~ n14 BAD .*
C: n15 NOTIFY
S~ n15 BAD .*`},
			// A refused SET leaves no NOTIFY: nothing is pushed.
			{c: []string{appendCmd("c1", "Work", 1)}},
			{nothing: true},
		}},
	}
	for _, after := range []time.Duration{0, time.Millisecond} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/hibernate_after=%v", tc.name, after), func(t *testing.T) {
				srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
					c.HibernateAfter = after
				}))
				c := srv.Login(t, srv.Alice)
				for _, cmd := range setup {
					mustOK(t, c, cmd)
				}
				n := srv.Login(t, srv.Alice)
				for _, st := range tc.steps {
					if after > 0 {
						waitAsleep(t, srv, n)
					}
					switch {
					case st.nothing:
						n.ExpectNothing(silence)
					case st.n != "":
						n.Run(st.n)
					case st.nc != nil:
						for _, cmd := range st.nc {
							mustOK(t, n, cmd)
						}
					default:
						for _, cmd := range st.c {
							mustOK(t, c, cmd)
						}
					}
				}
			})
		}
	}
}

// mustOK runs a command ("tag CMD args", a literal included) and fails
// unless its tagged answer is OK.
func mustOK(t *testing.T, c *testserver.Client, cmd string) {
	t.Helper()
	tag, _, _ := strings.Cut(cmd, " ")
	c.Write(cmd + "\r\n")
	lines := c.ReadUntilTagged(tag)
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, tag+" OK") {
		t.Fatalf("%s: %q", cmd, lines)
	}
}

// waitAsleep waits until the session of c is hibernated.
func waitAsleep(t *testing.T, srv *testserver.Server, c *testserver.Client) {
	t.Helper()
	addr := c.NetConn().LocalAddr().String()
	testserver.WaitFor(t, "the session hibernates", func() bool {
		for _, s := range srv.IMAP.Sessions() {
			if s.Remote == addr {
				return s.Asleep
			}
		}
		return false
	})
}

// TestNotifyOverflow: a client that does not read while thousands of
// events come has them dropped once its queue holds maxNotifyPending
// entries, is told NOTIFICATIONOVERFLOW when it reads again, and is told
// nothing more (NOTIFY is off, RFC 5465 5.8); its session goes on.
func TestNotifyOverflow(t *testing.T) {
	for _, after := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprintf("hibernate_after=%v", after), func(t *testing.T) {
			srv := testserver.Start(t, testserver.WithSendBuffer(4096), testserver.WithConfig(func(c *imapserver.Config) {
				c.HibernateAfter = after
			}))
			n := srv.Login(t, srv.Alice)
			if tc, ok := n.NetConn().(*net.TCPConn); ok {
				tc.SetReadBuffer(4096)
			}
			mustOK(t, n, "n1 NOTIFY SET (PERSONAL (SubscriptionChange))")
			c := srv.Login(t, srv.Alice)
			// 3,000 subscriptions, pipelined: ~150 KB of LIST lines,
			// far more than the sockets hold while n does not read.
			const subs = 3000
			var b strings.Builder
			for i := range subs {
				fmt.Fprintf(&b, "c%d SUBSCRIBE notify-overflow-mailbox-%05d\r\n", i, i)
			}
			c.Write(b.String())
			c.ReadUntilTagged(fmt.Sprintf("c%d", subs-1))
			lists := 0
			for {
				l := n.ReadLine()
				if strings.Contains(l, "NOTIFICATIONOVERFLOW") {
					break
				}
				if !strings.HasPrefix(l, `* LIST (\NonExistent \Subscribed) "/" notify-overflow-mailbox-`) {
					t.Fatalf("unexpected %q", l)
				}
				lists++
			}
			if lists >= subs {
				t.Errorf("told %d LISTs before the overflow, want fewer than %d", lists, subs)
			}
			mustOK(t, c, "d1 SUBSCRIBE after-overflow")
			n.ExpectNothing(silence)
			n.Run("C: n2 NOOP\nS: n2 OK NOOP completed")
		})
	}
}
