package interop

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/lmtp"
)

// postfixMain is the main.cf of a private, headless Postfix instance: its
// own config folder and queue, SMTP in on one loopback port, every mail
// for example.org out through LMTP to Dormouse, with
// recipient_delimiter = + as real setups have it. Nothing chroots (the
// queue holds no copies of system files), nothing looks up DNS, and it
// logs to a file of its own, not syslog (the postfix command reports its
// own errors only there, or to a terminal).
const postfixMain = `compatibility_level = 3.6
queue_directory = {{DIR}}/queue
data_directory = {{DIR}}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {{DIR}}/maillog
maillog_file_prefixes = {{DIR}}
myhostname = mx.dormouse.test
mydomain = dormouse.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
relay_domains =
virtual_mailbox_domains = example.org
virtual_mailbox_maps =
virtual_transport = lmtp:inet:127.0.0.1:{{LMTPPORT}}
recipient_delimiter = +
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
disable_dns_lookups = yes
smtp_dns_support_level = disabled
lmtp_host_lookup = native
biff = no
smtputf8_enable = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
`

// postfixMaster runs only the services this test needs, none chrooted.
const postfixMaster = `{{SMTPPORT}} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`

// TestPostfixPlusAddressing: mail for user+folder@domain sent
// to a real Postfix over SMTP reaches Dormouse through LMTP and lands in
// that user's mailbox named folder; user@domain and USER@domain land in
// INBOX. Postfix runs as a private instance in the foreground (start-fg),
// which needs root; without postfix or root the test skips, or fails
// under REQUIRE_INTEROP=1.
func TestPostfixPlusAddressing(t *testing.T) {
	postfix := "/usr/sbin/postfix"
	if _, err := os.Stat(postfix); err != nil {
		postfix = requireTool(t, "postfix")
	}
	if os.Geteuid() != 0 {
		missingClient(t, "a private Postfix instance must be started as root")
	}

	srv := testserver.Start(t)
	pw, err := auth.Open(srv.PasswdFile)
	if err != nil {
		t.Fatal(err)
	}
	lsrv, err := lmtp.New(lmtp.Config{
		Store: srv.Store, Users: pw, Logger: slog.New(slog.DiscardHandler), Domain: "dormouse.test",
		SpoolDir: t.TempDir(), RecipientDelimiter: "+", SaveToDetailMailbox: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	lln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go lsrv.Serve(lln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lsrv.Shutdown(ctx)
	})

	imap := srv.Login(t, srv.Alice)
	imap.Cmd("a1 CREATE Lists")

	dir, smtpAddr := startPostfix(t, postfix, lln.Addr().(*net.TCPAddr).Port)

	for _, rcpt := range []string{"alice+Lists@example.org", "alice@example.org", "ALICE@example.org"} {
		msg := fmt.Sprintf("From: sender@example.net\r\nTo: %s\r\nSubject: via postfix to %s\r\n\r\nHello.\r\n", rcpt, rcpt)
		if err := smtp.SendMail(smtpAddr, nil, "sender@example.net", []string{rcpt}, []byte(msg)); err != nil {
			t.Fatalf("SMTP to %s: %v\n%s", rcpt, err, readLog(dir))
		}
	}

	// Postfix delivers on its own time: wait for the messages to arrive.
	want := map[string]int{"Lists": 1, "INBOX": 2}
	deadline := time.Now().Add(2 * time.Minute)
	for tag := 0; ; tag++ {
		got := map[string]int{}
		for box := range want {
			lines := imap.Cmd(fmt.Sprintf("s%d STATUS %s (MESSAGES)", tag, box))
			var n int
			for _, l := range lines {
				if _, err := fmt.Sscanf(l[strings.Index(l, "(")+1:], "MESSAGES %d)", &n); err == nil && strings.HasPrefix(l, "* STATUS") {
					got[box] = n
				}
			}
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages per mailbox %v, want %v\nPostfix log:\n%s", got, want, readLog(dir))
		}
		time.Sleep(200 * time.Millisecond)
	}
	imap.Cmd("f1 SELECT Lists")
	got := strings.Join(imap.Cmd("f2 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "\n")
	if !strings.Contains(got, "Subject: via postfix to alice+Lists@example.org") {
		t.Errorf("Lists holds another message:\n%s", got)
	}
}

// startPostfix starts a private Postfix in the foreground with its
// config and queue in a fresh folder, relaying example.org to LMTP on
// lmtpPort, and returns the folder and its SMTP address. It is stopped
// when the test ends.
func startPostfix(t *testing.T, postfix string, lmtpPort int) (dir, smtpAddr string) {
	t.Helper()
	// The daemons run as the postfix user and must reach the queue: a
	// folder of its own under /tmp, searchable by all (t.TempDir is not).
	dir, err := os.MkdirTemp("", "dormouse-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "conf")
	for _, sub := range []string{conf, filepath.Join(dir, "queue")} {
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	smtpAddr = freeLoopbackAddr(t)
	_, smtpPort, _ := net.SplitHostPort(smtpAddr)
	r := strings.NewReplacer("{{DIR}}", dir, "{{LMTPPORT}}", fmt.Sprint(lmtpPort), "{{SMTPPORT}}", "127.0.0.1:"+smtpPort)
	for name, content := range map[string]string{"main.cf": postfixMain, "master.cf": postfixMaster} {
		if err := os.WriteFile(filepath.Join(conf, name), []byte(r.Replace(content)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// `postfix check` creates the queue's folders with the owners Postfix
	// wants (postfix, some with group postdrop) in the root-owned queue
	// folder made above.
	if out, err := exec.Command(postfix, "-c", conf, "check").CombinedOutput(); err != nil {
		t.Fatalf("postfix check: %v\n%s\n%s", err, out, readLog(dir))
	}
	cmd := exec.Command(postfix, "-c", conf, "start-fg")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("postfix start-fg: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// start-fg runs the master under a shell that does not pass
		// signals on: `postfix stop` signals the master through its pid
		// file, and the master stops its children; the shell then ends.
		exec.Command(postfix, "-c", conf, "stop").Run()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			if b, err := os.ReadFile(filepath.Join(dir, "queue", "pid", "master.pid")); err == nil {
				var pid int
				if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			cmd.Process.Kill()
			<-exited
		}
	})
	if err := waitListening(smtpAddr, exited, time.Minute); err != nil {
		t.Fatalf("postfix SMTP: %v\n%s\n%s", err, out.String(), readLog(dir))
	}
	return dir, smtpAddr
}

// freeLoopbackAddr returns a 127.0.0.1 address whose port was free a
// moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// readLog returns the private instance's log, for failure messages.
func readLog(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "maillog"))
	if err != nil {
		return fmt.Sprintf("(no maillog: %v)", err)
	}
	return tail(string(b))
}
