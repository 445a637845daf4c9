package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"
)

// setUserExtra appends Dovecot extra fields to name's passwd-file line.
func setUserExtra(t *testing.T, data, name, extra string) {
	t.Helper()
	path := filepath.Join(data, "passwd")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, name+":") {
			lines[i] = l + "::::::" + extra
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lmtpCode delivers msg to `to` and returns the SMTP reply code and
// enhanced code of a refusal, or 250.
func lmtpCode(t *testing.T, addr, to, msg string) (int, smtp.EnhancedCode) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	err = c.SendMail("sender@example.org", []string{to}, strings.NewReader(msg))
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, se.EnhancedCode
	}
	var le smtp.LMTPDataError
	if errors.As(err, &le) {
		for _, e := range le {
			return e.Code, e.EnhancedCode
		}
	}
	if err != nil {
		t.Fatalf("LMTP: %v", err)
	}
	return 250, smtp.EnhancedCode{2, 0, 0}
}

// TestQuotaDeliverLMTPAndRestart: a quota from the passwd-file's
// userdb_quota_rule field is enforced by `dormouse deliver` (exit 73,
// EX_CANTCREAT, as dovecot-lda with quota_full_tempfail = no) with the
// server stopped and running, by LMTP (552 5.2.2) and by IMAP APPEND
// (NO [OVERQUOTA]); limits an administrator sets with SETQUOTA, the
// usage and METADATA entries survive a SIGKILL and a restart.
func TestQuotaDeliverLMTPAndRestart(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	addTestUser(t, data, "bob", "bob-pw")
	setUserExtra(t, data, "alice", "userdb_quota_rule=*:messages=2")
	if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte("[quota]\nadmins = \"bob\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := "Subject: q\n\nquota test\n"
	deliver := func(step string, want int) {
		t.Helper()
		code, _, stderr := runDormouse(t, msg, "deliver", "--data", data, "alice")
		if code != want {
			t.Fatalf("%s: deliver exit %d, want %d (stderr %q)", step, code, want, stderr)
		}
		if want == exitCantCreate && !strings.Contains(stderr, "quota") {
			t.Errorf("%s: stderr %q does not say quota", step, stderr)
		}
	}
	deliver("first, no server", 0)
	deliver("second, no server", 0)
	deliver("third, no server", exitCantCreate)

	d := startDaemon(t, data)
	deliver("with the server running", exitCantCreate)
	if code, ec := lmtpCode(t, d.lmtp, "alice@example.org", msg); code != 552 || ec != (smtp.EnhancedCode{5, 2, 2}) {
		t.Errorf("LMTP over quota: %d %v, want 552 5.2.2", code, ec)
	}
	a := dialIMAP(t, d.imap, nil)
	a.MustOK("LOGIN alice alice-pw")
	if lines := a.MustOK("GETQUOTAROOT INBOX"); !slices.Contains(lines, `* QUOTA "" (MESSAGE 2 2)`) {
		t.Errorf("GETQUOTAROOT: %q", lines)
	}
	if status := a.Append("INBOX", "Subject: x\r\n\r\ny\r\n"); !strings.HasPrefix(status, "NO [OVERQUOTA]") {
		t.Errorf("APPEND over quota: %s", status)
	}
	b := dialIMAP(t, d.imap, nil)
	b.MustOK("LOGIN bob bob-pw")
	b.MustOK(`SETQUOTA "user/alice" (MESSAGE 4)`)
	a.MustOK(`SETMETADATA "" (/private/vendor/test/server "kept")`)
	a.MustOK(`SETMETADATA Archive (/shared/comment "kept too" /private/specialuse "\\Flagged")`)
	deliver("after SETQUOTA", 0)
	if code, _ := lmtpCode(t, d.lmtp, "alice@example.org", msg); code != 250 {
		t.Errorf("LMTP after SETQUOTA: %d", code)
	}
	d.stop(syscall.SIGKILL)

	d = startDaemon(t, data)
	a = dialIMAP(t, d.imap, nil)
	a.MustOK("LOGIN alice alice-pw")
	if lines := a.MustOK(`GETQUOTA ""`); !slices.Contains(lines, `* QUOTA "" (MESSAGE 4 4)`) {
		t.Errorf("GETQUOTA after SIGKILL and restart: %q", lines)
	}
	deliver("full again after restart", exitCantCreate)
	if lines := a.MustOK(`GETMETADATA "" /private/vendor/test/server`); !slices.Contains(lines, `* METADATA "" (/private/vendor/test/server "kept")`) {
		t.Errorf("server METADATA after SIGKILL and restart: %q", lines)
	}
	if lines := a.MustOK(`GETMETADATA Archive (/shared/comment /private/specialuse)`); !slices.Contains(lines, `* METADATA Archive (/private/specialuse "\\Flagged" /shared/comment "kept too")`) {
		t.Errorf("mailbox METADATA after SIGKILL and restart: %q", lines)
	}
	d.stop(syscall.SIGTERM)
}
