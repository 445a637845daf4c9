package imapserver_test

import (
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestMetadataTranscript: SETMETADATA and GETMETADATA on the server and on
// mailboxes (RFC 5464): NIL for entries without a value and to remove one,
// DEPTH 0/1/infinity, MAXSIZE with [METADATA LONGENTRIES n], binary values
// as literal8, names compared case-insensitively, bad names refused with
// BAD, a missing mailbox with NO [NONEXISTENT].
func TestMetadataTranscript(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	caps, _ := cmdResult(c, "c0", "CAPABILITY")
	if !strings.Contains(caps[0], " METADATA METADATA-SERVER") {
		t.Fatalf("CAPABILITY: %q", caps)
	}
	c.Run(`
C: m1 SETMETADATA "" (/shared/comment "Server comment" /private/vendor/x/a "1")
S: m1 OK SETMETADATA completed
C: m2 GETMETADATA "" /shared/comment
S: * METADATA "" (/shared/comment "Server comment")
S: m2 OK GETMETADATA completed
C: m3 GETMETADATA "" (/SHARED/Comment /private/nothing)
S: * METADATA "" (/shared/comment "Server comment" /private/nothing NIL)
S: m3 OK GETMETADATA completed
C: m4 SETMETADATA INBOX (/private/comment {5+}\r\nhello /private/vendor/x/a "a" /private/vendor/x/a/b "b" /private/vendor/x/a/b/c "c")
S: m4 OK SETMETADATA completed
C: m5 GETMETADATA (DEPTH 1) INBOX /private/vendor/x/a
S: * METADATA INBOX (/private/vendor/x/a "a" /private/vendor/x/a/b "b")
S: m5 OK GETMETADATA completed
C: m6 GETMETADATA (DEPTH infinity) INBOX /private/vendor
S: * METADATA INBOX (/private/vendor/x/a "a" /private/vendor/x/a/b "b" /private/vendor/x/a/b/c "c" /private/vendor NIL)
S: m6 OK GETMETADATA completed
C: m7 GETMETADATA (MAXSIZE 3 DEPTH infinity) INBOX /private
S: * METADATA INBOX (/private/vendor/x/a "a" /private/vendor/x/a/b "b" /private/vendor/x/a/b/c "c")
S: m7 OK [METADATA LONGENTRIES 5] GETMETADATA completed
C: m8 SETMETADATA INBOX (/private/comment NIL)
S: m8 OK SETMETADATA completed
C: m9 GETMETADATA INBOX /private/comment
S: * METADATA INBOX (/private/comment NIL)
S: m9 OK GETMETADATA completed
C: b1 SETMETADATA INBOX (/private/bin ~{3+}\r\na` + "\x00" + `b)
S: b1 OK SETMETADATA completed
C: b2 GETMETADATA INBOX /private/bin
S: * METADATA INBOX (/private/bin ~{3}\r\na` + "\x00" + `b)
S: b2 OK GETMETADATA completed
C: e1 SETMETADATA INBOX (/other/comment "x")
S: e1 BAD Invalid entry name "/other/comment": must start with /private/ or /shared/
C: e2 SETMETADATA INBOX ("/private/a*" "x")
S: e2 BAD Invalid entry name "/private/a*": forbidden character
C: e3 SETMETADATA INBOX (/private/a/ "x")
S: e3 BAD Invalid entry name "/private/a/": empty component
C: e4 GETMETADATA Nope /private/comment
S: e4 NO [NONEXISTENT] No such mailbox
C: e5 GETMETADATA (DEPTH 2) INBOX /private/comment
S~ e5 BAD .*DEPTH.*
C: e6 SETMETADATA Nope (/private/comment "x")
S: e6 NO [NONEXISTENT] No such mailbox
C: e7 NOOP
S: e7 OK NOOP completed
`)
}

// TestMetadataLimitsAndMailboxes: the size and count limits answer
// [METADATA MAXSIZE n] and [METADATA TOOMANY] and leave nothing half set;
// /private/specialuse is the SPECIAL-USE attribute LIST shows, both ways;
// RENAME carries a mailbox's entries, DELETE drops them (a mailbox made
// again under the name starts empty).
func TestMetadataLimitsAndMailboxes(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.MaxMetadataEntrySize = 10
		cfg.Limits.MaxMetadataEntries = 3
		cfg.Limits.MaxMetadataSize = 25
	}))
	c := srv.Login(t, srv.Alice)
	c.Run(`
C: l1 SETMETADATA INBOX (/private/a "01234567890")
S: l1 NO [METADATA MAXSIZE 10] Value too large
C: l2 SETMETADATA INBOX (/private/a "0123456789" /private/b "0123456789")
S: l2 OK SETMETADATA completed
C: l3 SETMETADATA "" (/private/c "0123456789")
S: l3 NO [METADATA MAXSIZE 5] Value too large
C: l4 SETMETADATA Archive (/private/c "x" /private/d "y")
S: l4 NO [METADATA TOOMANY] Too many entries
C: l5 GETMETADATA Archive (/private/c /private/d)
S: * METADATA Archive (/private/c NIL /private/d NIL)
S: l5 OK GETMETADATA completed
C: l6 SETMETADATA INBOX (/private/a NIL)
S: l6 OK SETMETADATA completed
C: l7 SETMETADATA Archive (/private/c "x" /private/d "y")
S: l7 OK SETMETADATA completed
`)
	c.Run(`
C: s1 GETMETADATA Sent /private/specialuse
S: * METADATA Sent (/private/specialuse "\\Sent")
S: s1 OK GETMETADATA completed
C: s2 CREATE Outgoing
S~ s2 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: s3 SETMETADATA Outgoing (/private/specialuse "\\Sent")
S: s3 OK SETMETADATA completed
C: s4 LIST "" Outgoing RETURN (SPECIAL-USE)
S: * LIST (\HasNoChildren \Sent) "/" Outgoing
S: s4 OK LIST completed
C: s5 SETMETADATA Outgoing (/private/specialuse "\\Bogus")
S: s5 NO [USEATTR] Unsupported special-use attribute
C: s6 SETMETADATA Outgoing (/private/specialuse NIL)
S: s6 OK SETMETADATA completed
C: s7 LIST "" Outgoing RETURN (SPECIAL-USE)
S: * LIST (\HasNoChildren) "/" Outgoing
S: s7 OK LIST completed
C: s8 CREATE Old (USE (\Drafts))
S~ s8 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: s9 GETMETADATA Old /private/specialuse
S: * METADATA Old (/private/specialuse "\\Drafts")
S: s9 OK GETMETADATA completed
`)
	c.Run(`
C: r1 RENAME Archive Archive2
S: r1 OK RENAME completed
C: r2 GETMETADATA Archive2 (/private/c /private/d)
S: * METADATA Archive2 (/private/c "x" /private/d "y")
S: r2 OK GETMETADATA completed
C: r3 DELETE Archive2
S: r3 OK DELETE completed
C: r4 CREATE Archive2
S~ r4 OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed
C: r5 GETMETADATA Archive2 /private/c
S: * METADATA Archive2 (/private/c NIL)
S: r5 OK GETMETADATA completed
C: r6 SETMETADATA INBOX (/private/a "0123456789")
S: r6 OK SETMETADATA completed
`)
}
