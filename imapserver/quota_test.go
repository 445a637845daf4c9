package imapserver_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/mailstore/maildir"
)

// startQuota starts a server where alice has limits and bob may set them.
func startQuota(t *testing.T, alice mailstore.QuotaLimits) *testserver.Server {
	t.Helper()
	return testserver.Start(t,
		testserver.WithStoreOptions(func(o *maildir.Options) {
			o.QuotaLimits = func(user string) mailstore.QuotaLimits {
				if user == "alice" {
					return alice
				}
				return mailstore.QuotaLimits{}
			}
		}),
		testserver.WithConfig(func(cfg *imapserver.Config) { cfg.QuotaAdmins = []string{"bob"} }))
}

// cmdResult sends one command and returns its untagged responses and the
// tagged one without its tag.
func cmdResult(c *testserver.Client, tag, cmd string) (untagged []string, tagged string) {
	lines := c.Cmd(tag + " " + cmd)
	return lines[:len(lines)-1], strings.TrimPrefix(lines[len(lines)-1], tag+" ")
}

// appendLine is an APPEND of msg with a non-synchronizing literal.
func appendLine(mailbox, msg string) string {
	return fmt.Sprintf("APPEND %s {%d+}\r\n%s", mailbox, len(msg), msg)
}

// TestQuotaMessages: the MESSAGE limit is enforced on APPEND and COPY with
// NO [OVERQUOTA] (RFC 9208 4.4), MOVE and EXPUNGE still work over it, the
// usage GETQUOTAROOT and GETQUOTA report follows every change, and only
// an administrator may SETQUOTA, whose limits then apply at once.
func TestQuotaMessages(t *testing.T) {
	srv := startQuota(t, mailstore.QuotaLimits{Messages: 3, Storage: 10 << 10})
	c := srv.Login(t, srv.Alice)
	caps, _ := cmdResult(c, "c0", "CAPABILITY")
	if !strings.Contains(caps[0], " QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE QUOTASET") {
		t.Fatalf("CAPABILITY: %q", caps)
	}
	for i := 1; i <= 2; i++ {
		appendMsg(t, c, "INBOX", "", testMessage(i))
	}
	c.Run(`
C: q1 GETQUOTAROOT INBOX
S: * QUOTAROOT INBOX ""
S: * QUOTA "" (STORAGE 0 10 MESSAGE 2 3)
S: q1 OK GETQUOTAROOT completed
C: q2 GETQUOTA ""
S: * QUOTA "" (STORAGE 0 10 MESSAGE 2 3)
S: q2 OK GETQUOTA completed
C: q3 GETQUOTA "user/bob"
S: q3 NO [NONEXISTENT] No such quota root
C: q4 GETQUOTAROOT Nonexistent
S: q4 NO [NONEXISTENT] No such mailbox
C: q5 SETQUOTA "" (MESSAGE 100)
S: q5 NO [NOPERM] Only administrators may set quota limits
`)
	c.Cmd("s1 SELECT INBOX")
	steps := []struct{ cmd, want string }{
		{"COPY 1:2 Archive", "NO [OVERQUOTA] Quota exceeded"}, // 2+2 > 3: nothing copied
		{"COPY 1 Archive", "OK"},                              // 3
		{appendLine("INBOX", testMessage(3)), "NO [OVERQUOTA] Quota exceeded"},
		{appendLine("Trash", testMessage(3)), "NO [OVERQUOTA] Quota exceeded"},
		{"MOVE 1 Trash", "OK"},              // moves add nothing
		{"STATUS Archive (MESSAGES)", "OK"}, // the refused COPY left nothing
		{"GETQUOTA \"\"", "OK"},
		{"SELECT Trash", "OK"},
		{"STORE 1 +FLAGS.SILENT (\\Deleted)", "OK"},
		{"EXPUNGE", "OK"}, // over quota, cleaning up works
		{appendLine("INBOX", testMessage(4)), "OK"},
	}
	for i, s := range steps {
		untagged, tagged := cmdResult(c, fmt.Sprintf("m%d", i), s.cmd)
		if !strings.HasPrefix(tagged, s.want) {
			t.Fatalf("%q: %q, want %q", s.cmd, tagged, s.want)
		}
		switch {
		case strings.HasPrefix(s.cmd, "STATUS"):
			if !slices.Contains(untagged, "* STATUS Archive (MESSAGES 1)") {
				t.Errorf("after a refused COPY: %q", untagged)
			}
		case strings.HasPrefix(s.cmd, "GETQUOTA"):
			if !slices.Contains(untagged, `* QUOTA "" (STORAGE 0 10 MESSAGE 3 3)`) {
				t.Errorf("after MOVE: %q", untagged)
			}
		}
	}

	// bob, the administrator, has no limits of his own and raises alice's.
	b := srv.Login(t, srv.Bob)
	b.Run(`
C: b1 GETQUOTAROOT INBOX
S: * QUOTAROOT INBOX
S: b1 OK GETQUOTAROOT completed
C: b2 GETQUOTA ""
S: b2 NO [NONEXISTENT] No quota limits for this root
C: b3 SETQUOTA "user/alice" (MESSAGE 10 STORAGE 20)
S: * QUOTA "user/alice" (STORAGE 0 20 MESSAGE 3 10)
S: b3 OK SETQUOTA completed
C: b4 SETQUOTA "user/nobody" (MESSAGE 10)
S: b4 NO [NONEXISTENT] No such quota root
C: b5 SETQUOTA "" (FOO 10)
S: b5 NO [CANNOT] Unsupported resource FOO
C: b6 SETQUOTA "" (MESSAGE 10 STORAGE
S~ b6 BAD .*
C: b7 GETQUOTA "user/alice"
S: * QUOTA "user/alice" (STORAGE 0 20 MESSAGE 3 10)
S: b7 OK GETQUOTA completed
`)
	if _, tagged := cmdResult(c, "a9", appendLine("Archive", testMessage(5))); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("APPEND after SETQUOTA raised the limit: %q", tagged)
	}
}

// TestQuotaStorage: the STORAGE limit counts RFC822.SIZE in bytes and
// reports KiB; MULTIAPPEND is all or nothing; STATUS DELETED-STORAGE
// (RFC 9208 4.2) tells what an EXPUNGE would free, also through
// LIST-STATUS.
func TestQuotaStorage(t *testing.T) {
	srv := startQuota(t, mailstore.QuotaLimits{Storage: 8 << 10})
	big := testMessage(1) + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrs\r\n", 46) // ~3.3 KB
	c := srv.Login(t, srv.Alice)
	appendMsg(t, c, "INBOX", "", big)
	appendMsg(t, c, "INBOX", `\Deleted`, big)
	size := len(big)
	if _, tagged := cmdResult(c, "a3", appendLine("INBOX", big)); !strings.HasPrefix(tagged, "NO [OVERQUOTA]") {
		t.Fatalf("third APPEND of %d bytes under 8 KiB: %q", size, tagged)
	}
	small := testMessage(2)
	multi := fmt.Sprintf("APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s", len(small), small, len(big), big)
	if _, tagged := cmdResult(c, "a4", multi); !strings.HasPrefix(tagged, "NO [OVERQUOTA]") {
		t.Fatalf("MULTIAPPEND past the limit: %q", tagged)
	}
	kib := size / 1024
	c.Run(fmt.Sprintf(`
C: q1 GETQUOTAROOT INBOX
S: * QUOTAROOT INBOX ""
S: * QUOTA "" (STORAGE %d 8)
S: q1 OK GETQUOTAROOT completed
C: s1 STATUS INBOX (MESSAGES DELETED DELETED-STORAGE)
S: * STATUS INBOX (MESSAGES 2 DELETED 1 DELETED-STORAGE %d)
S: s1 OK STATUS completed
C: l1 LIST "" INBOX RETURN (STATUS (DELETED-STORAGE))
S~ \* LIST .*INBOX
S: * STATUS INBOX (DELETED-STORAGE %d)
S: l1 OK LIST completed
`, 2*size/1024, kib, kib))
}

// TestAppendLimit: APPENDLIMIT (RFC 7889) is the largest literal: the
// capability and STATUS (also through LIST-STATUS) say so, an APPEND one
// byte over it is refused with NO [TOOBIG] before the message is sent,
// one of exactly that size is stored.
func TestAppendLimit(t *testing.T) {
	const limit = 4096
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) { cfg.Limits.MaxLiteral = limit }))
	c := srv.Login(t, srv.Alice)
	caps, _ := cmdResult(c, "c0", "CAPABILITY")
	if !strings.Contains(caps[0], fmt.Sprintf(" APPENDLIMIT=%d", limit)) {
		t.Fatalf("CAPABILITY: %q", caps)
	}
	msg := testMessage(1)
	msg += strings.Repeat("x", limit-len(msg))
	c.Run(fmt.Sprintf(`
C: s1 STATUS INBOX (MESSAGES APPENDLIMIT)
S: * STATUS INBOX (MESSAGES 0 APPENDLIMIT %d)
S: s1 OK STATUS completed
C: l1 LIST "" INBOX RETURN (STATUS (APPENDLIMIT))
S~ \* LIST .*INBOX
S: * STATUS INBOX (APPENDLIMIT %d)
S: l1 OK LIST completed
C: a1 APPEND INBOX {%d}
S~ a1 NO \[TOOBIG\] .*
`, limit, limit, limit+1))
	appendMsg(t, c, "INBOX", "", msg)
}
