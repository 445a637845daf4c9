package imapserver_test

import (
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

func TestListDefaults(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.Run(`
C: a1 LIST "" ""
S: * LIST (\Noselect) "/" ""
S: a1 OK LIST completed
C: a2 LIST "" *
S: * LIST (\HasNoChildren) "/" INBOX
S: * LIST (\HasNoChildren \Archive) "/" Archive
S: * LIST (\HasNoChildren \Drafts) "/" Drafts
S: * LIST (\HasNoChildren \Junk) "/" Junk
S: * LIST (\HasNoChildren \Sent) "/" Sent
S: * LIST (\HasNoChildren \Trash) "/" Trash
S: a2 OK LIST completed
C: a3 NAMESPACE
S: * NAMESPACE (("" "/")) NIL NIL
S: a3 OK NAMESPACE completed
`)
}

func TestCreateDeleteRename(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.Run(`
C: a1 CREATE Projects/2026/
S~ a1 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: a2 CREATE Projects
S: a2 NO [ALREADYEXISTS] Mailbox already exists
C: a3 CREATE inbox
S: a3 NO [ALREADYEXISTS] INBOX always exists
C: a4 CREATE Important (USE (\Flagged))
S~ a4 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: a5 CREATE Odd (USE (\Nonsense))
S: a5 NO [USEATTR] Unsupported special-use attribute
C: a6 LIST "" Projects*
S: * LIST (\HasChildren) "/" Projects
S: * LIST (\HasNoChildren) "/" Projects/2026
S: a6 OK LIST completed
C: a7 LIST "" %
S: * LIST (\HasNoChildren) "/" INBOX
S: * LIST (\HasNoChildren \Archive) "/" Archive
S: * LIST (\HasNoChildren \Drafts) "/" Drafts
S: * LIST (\HasNoChildren \Flagged) "/" Important
S: * LIST (\HasNoChildren \Junk) "/" Junk
S: * LIST (\HasChildren) "/" Projects
S: * LIST (\HasNoChildren \Sent) "/" Sent
S: * LIST (\HasNoChildren \Trash) "/" Trash
S: a7 OK LIST completed
C: a8 RENAME Projects Work
S: a8 OK RENAME completed
C: a9 LIST "" Work/%
S: * LIST (\HasNoChildren) "/" Work/2026
S: a9 OK LIST completed
C: b1 DELETE Nope
S: b1 NO [NONEXISTENT] No such mailbox
C: b2 DELETE INBOX
S: b2 NO [CANNOT] INBOX cannot be deleted
C: b3 DELETE Work/2026
S: b3 OK DELETE completed
C: b4 RENAME Nope Other
S: b4 NO [NONEXISTENT] No such mailbox
C: b5 RENAME Work Sent
S: b5 NO [ALREADYEXISTS] Mailbox already exists
C: b6 LIST "" "Work*"
S: * LIST (\HasNoChildren) "/" Work
S: b6 OK LIST completed
`)
}

func TestListExtended(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	// The default mailboxes start subscribed.
	for _, name := range []string{"Archive", "Drafts", "Junk", "Sent", "Trash"} {
		c.Cmd("u UNSUBSCRIBE " + name)
	}
	c.Run(`
C: a1 CREATE Lists/Go
S~ a1 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: a2 SUBSCRIBE Lists/Go
S: a2 OK SUBSCRIBE completed
C: a3 SUBSCRIBE INBOX
S: a3 OK SUBSCRIBE completed
C: a4 LIST (SUBSCRIBED) "" *
S: * LIST (\HasNoChildren \Subscribed) "/" INBOX
S: * LIST (\HasNoChildren \Subscribed) "/" Lists/Go
S: a4 OK LIST completed
C: a5 LIST (SUBSCRIBED RECURSIVEMATCH) "" %
S: * LIST (\HasNoChildren \Subscribed) "/" INBOX
S: * LIST (\HasChildren) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))
S: a5 OK LIST completed
C: a6 LIST (SPECIAL-USE) "" * RETURN (SUBSCRIBED)
S: * LIST (\HasNoChildren \Archive) "/" Archive
S: * LIST (\HasNoChildren \Drafts) "/" Drafts
S: * LIST (\HasNoChildren \Junk) "/" Junk
S: * LIST (\HasNoChildren \Sent) "/" Sent
S: * LIST (\HasNoChildren \Trash) "/" Trash
S: a6 OK LIST completed
C: a7 LSUB "" *
S: * LSUB () "/" INBOX
S: * LSUB () "/" Lists/Go
S: a7 OK LSUB completed
C: a8 UNSUBSCRIBE Lists/Go
S: a8 OK UNSUBSCRIBE completed
C: a9 LIST "" (INBOX Lists) RETURN (CHILDREN SUBSCRIBED STATUS (MESSAGES UIDNEXT SIZE))
S: * LIST (\HasNoChildren \Subscribed) "/" INBOX
S: * STATUS INBOX (MESSAGES 0 UIDNEXT 1 SIZE 0)
S: * LIST (\HasChildren) "/" Lists
S: * STATUS Lists (MESSAGES 0 UIDNEXT 1 SIZE 0)
S: a9 OK LIST completed
C: b1 LIST (RECURSIVEMATCH) "" *
S: b1 BAD RECURSIVEMATCH needs another selection option
`)
}

func TestStatus(t *testing.T) {
	srv := testserver.Start(t)
	fill(t, srv, "INBOX", 3)
	c := srv.Login(t, srv.Alice)
	c.Run(`
C: a1 STATUS INBOX (MESSAGES UIDNEXT UNSEEN DELETED RECENT)
S: * STATUS INBOX (MESSAGES 3 UIDNEXT 4 UNSEEN 3 DELETED 0 RECENT 3)
S: a1 OK STATUS completed
C: a2 STATUS INBOX (SIZE HIGHESTMODSEQ UIDVALIDITY)
S~ \* STATUS INBOX \(SIZE \d+ HIGHESTMODSEQ \d+ UIDVALIDITY \d+\)
S: a2 OK STATUS completed
C: a3 STATUS Nope (MESSAGES)
S: a3 NO [NONEXISTENT] No such mailbox
`)
}

func TestMailboxNamesUTF7(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.Run(`
C: a1 CREATE "Ma&AO4-tre"
S~ a1 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: a2 LIST "" "Ma*"
S: * LIST (\HasNoChildren) "/" Ma&AO4-tre
S: a2 OK LIST completed
C: a3 ENABLE UTF8=ACCEPT
S: * ENABLED UTF8=ACCEPT
S: a3 OK ENABLE completed
C: a4 LIST "" "Ma*"
S: * LIST (\HasNoChildren) "/" "Maître"
S: a4 OK LIST completed
`)
}

// TestInvalidMailboxNameIsNO: a mailbox name that is not valid modified
// UTF-7 names no mailbox there can be: SELECT, CREATE, RENAME and LIST get
// NO, as Dovecot answers, not BAD (the command is well formed), and the
// connection goes on.
func TestInvalidMailboxNameIsNO(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.Run(`
C: a1 SELECT &Jjo
S~ a1 NO Mailbox name is not valid modified UTF-7.*
C: a2 CREATE &AGE-
S~ a2 NO Mailbox name is not valid modified UTF-7.*
C: a3 RENAME INBOX &Jj!-
S~ a3 NO Mailbox name is not valid modified UTF-7.*
C: a4 LIST "" "&Jjo*"
S~ a4 NO Mailbox name is not valid modified UTF-7.*
C: a5 NOOP
S: a5 OK NOOP completed
`)
}

// TestLsubParentOfSubscribed: LSUB with "%" lists a parent that is not
// subscribed but has subscribed children, flagged \Noselect (RFC 3501
// 6.3.9), and not when the pattern reaches the children themselves.
func TestLsubParentOfSubscribed(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.Run(`
C: a1 CREATE foo/bar
S~ a1 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: a2 SUBSCRIBE foo/bar
S: a2 OK SUBSCRIBE completed
C: a3 LSUB "" "f%"
S: * LSUB (\Noselect) "/" foo
S: a3 OK LSUB completed
C: a4 LSUB "" "foo*"
S: * LSUB () "/" foo/bar
S: a4 OK LSUB completed
C: a5 LSUB "" "foo/%"
S: * LSUB () "/" foo/bar
S: a5 OK LSUB completed
`)
}

// TestSubscribedNonExistent: a subscription outlives its mailbox (RFC
// 9051 6.3.7: the server must not remove it on its own); LIST
// (SUBSCRIBED) shows it as \NonExistent (RFC 5258 3.4), LSUB as
// \Noselect, and a plain LIST not at all.
func TestSubscribedNonExistent(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.Run(`
C: a1 CREATE gone
S~ a1 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: a2 SUBSCRIBE gone
S: a2 OK SUBSCRIBE completed
C: a3 DELETE gone
S: a3 OK DELETE completed
C: a4 LIST (SUBSCRIBED) "" "g*"
S: * LIST (\NonExistent \Subscribed) "/" gone
S: a4 OK LIST completed
C: a5 LSUB "" "g*"
S: * LSUB (\Noselect) "/" gone
S: a5 OK LSUB completed
C: a6 LIST "" "g*"
S: a6 OK LIST completed
C: a7 CREATE gone
S~ a7 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: a8 LIST (SUBSCRIBED) "" "g*"
S: * LIST (\HasNoChildren \Subscribed) "/" gone
S: a8 OK LIST completed
`)
}

// TestListRecursiveMatchChildInfo replays RFC 5258's example 9 (section
// 5): with RECURSIVEMATCH, CHILDINFO marks a mailbox whose subscribed
// descendant the pattern does not match, whether the mailbox is
// subscribed (Eps2) or not (Foo2); a parent whose subscribed children
// all match the pattern themselves (Baz2 under "*2") is not listed. The
// RFC's Qux2 does not exist; here it does (CREATE makes parents), not
// subscribed, and answers as Baz2 does.
func TestListRecursiveMatchChildInfo(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	for _, mb := range []struct {
		name       string
		subscribed bool
	}{
		{"Foo2", false}, {"Foo2/Bar1", true}, {"Foo2/Bar2", true},
		{"Baz2", false}, {"Baz2/Bar2", true}, {"Baz2/Bar22", true}, {"Baz2/Bar222", true},
		{"Eps2", true}, {"Eps2/Mailbox1", true}, {"Qux2/Bar2", true},
	} {
		c.Cmd("c CREATE " + mb.name)
		if mb.subscribed {
			c.Cmd("s SUBSCRIBE " + mb.name)
		}
	}
	c.Run(`
C: a1 LIST (SUBSCRIBED RECURSIVEMATCH) "" "*2"
S: * LIST (\HasNoChildren \Subscribed) "/" Baz2/Bar2
S: * LIST (\HasNoChildren \Subscribed) "/" Baz2/Bar22
S: * LIST (\HasNoChildren \Subscribed) "/" Baz2/Bar222
S: * LIST (\HasChildren \Subscribed) "/" Eps2 ("CHILDINFO" ("SUBSCRIBED"))
S: * LIST (\HasChildren) "/" Foo2 ("CHILDINFO" ("SUBSCRIBED"))
S: * LIST (\HasNoChildren \Subscribed) "/" Foo2/Bar2
S: * LIST (\HasNoChildren \Subscribed) "/" Qux2/Bar2
S~ a1 OK .*
C: a2 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%2"
S: * LIST (\HasChildren) "/" Baz2 ("CHILDINFO" ("SUBSCRIBED"))
S: * LIST (\HasChildren \Subscribed) "/" Eps2 ("CHILDINFO" ("SUBSCRIBED"))
S: * LIST (\HasChildren) "/" Foo2 ("CHILDINFO" ("SUBSCRIBED"))
S: * LIST (\HasChildren) "/" Qux2 ("CHILDINFO" ("SUBSCRIBED"))
S~ a2 OK .*
C: a3 LIST (SUBSCRIBED) "" "%2"
S: * LIST (\HasChildren \Subscribed) "/" Eps2
S~ a3 OK .*
`)
}
