package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/emersion/go-smtp"
	"golang.org/x/sys/unix"
)

// TestDiskFull runs the daemon on a data folder that is a small tmpfs,
// fills it, and checks that an IMAP APPEND (CATENATE too) gets NO
// [OVERQUOTA] and an LMTP delivery a 4xx, each with a reason; that no message stored before is
// lost or changed (UIDs, flags, bytes); and that both work again once
// space is freed. Mounting needs root.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	data := t.TempDir()
	if err := unix.Mount("tmpfs", data, "tmpfs", 0, "size=8m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", data, err)
	}
	// Registered before the daemon starts, so it runs after the daemon is
	// killed.
	t.Cleanup(func() {
		if err := unix.Unmount(data, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", data, err)
		}
	})
	addTestUser(t, data, "alice", "alice-pw")
	d := startDaemon(t, data)

	c := dialIMAP(t, d.imap, nil)
	c.MustOK("LOGIN alice alice-pw")
	for i := range 3 {
		if st := c.Append("INBOX", fmt.Sprintf("Subject: before %d\r\n\r\nbody %d\r\n", i, i)); !strings.HasPrefix(st, "OK") {
			t.Fatalf("APPEND before: %s", st)
		}
	}
	lmtpSend(t, d.lmtp, "alice@example.org", "Subject: delivered before\r\n\r\nbody\r\n")
	c.MustOK("SELECT INBOX")
	c.MustOK(`STORE 1,3 +FLAGS (\Flagged $Keep)`)
	before := snapshot(t, c)
	if len(before) != 4 {
		t.Fatalf("before: %d messages, want 4", len(before))
	}

	filler := filepath.Join(data, "filler")
	fillDisk(t, filler)

	// IMAP: NO with a response code and text, and the connection still
	// usable: a message above the 1 MiB spool threshold (read to its end
	// and discarded), a large one held in memory and a small one.
	for _, size := range []int{2_000_000, 200_000, 100} {
		msg := "Subject: on a full disk\r\n\r\n" + strings.Repeat("x", size) + "\r\n"
		st := c.Append("INBOX", msg)
		if !regexp.MustCompile(`^NO \[OVERQUOTA\] \S`).MatchString(st) {
			t.Fatalf("APPEND of %d bytes on a full disk: %q, want NO [OVERQUOTA] with a reason", size, st)
		}
		c.MustOK("NOOP")
	}
	// CATENATE assembles its message in the spool: the same answer.
	if _, st := c.Do(`APPEND INBOX CATENATE (URL "/INBOX/;UID=1" TEXT {3+}` + "\r\nabc)"); !regexp.MustCompile(`^NO \[OVERQUOTA\] \S`).MatchString(st) {
		t.Fatalf("APPEND CATENATE on a full disk: %q, want NO [OVERQUOTA] with a reason", st)
	}
	c.MustOK("NOOP")
	// LMTP: a temporary failure naming the full disk, so the MTA retries
	// and its log says why.
	err := lmtpTry(d.lmtp, "alice@example.org", "Subject: on a full disk\r\n\r\n"+strings.Repeat("y", 50_000)+"\r\n")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 452 || !strings.Contains(se.Message, "storage") {
		t.Fatalf("LMTP on a full disk: %v, want 452 naming the storage", err)
	}
	t.Logf("LMTP on a full disk: %d %s", se.Code, se.Message)
	// An operator sees each refusal counted, and the delivery before it
	// timed.
	for series, want := range map[string]float64{
		"dormouse_imap_disk_full_total":               4,
		"dormouse_lmtp_disk_full_total":               1,
		"dormouse_lmtp_delivery_seconds_count":        1,
		`dormouse_lmtp_deliveries_total{result="ok"}`: 1,
	} {
		if got := metricValue(t, d.metric, series); got != want {
			t.Errorf("%s = %g, want %g", series, got, want)
		}
	}
	if n := metricValue(t, d.metric, `dormouse_log_messages_total{level="error"}`); n < 1 {
		t.Errorf("the failed delivery was not counted as a logged error (%g)", n)
	}

	// Nothing stored before changed, as this session and a fresh one see it.
	c.MustOK("NOOP")
	if after := snapshot(t, c); !equalSnap(before, after) {
		t.Fatalf("on a full disk the mailbox changed:\nbefore %v\nafter  %v", before, after)
	}
	fresh := dialIMAP(t, d.imap, nil)
	fresh.MustOK("LOGIN alice alice-pw")
	fresh.MustOK("SELECT INBOX")
	if after := snapshot(t, fresh); !equalSnap(before, after) {
		t.Fatalf("a fresh session sees a changed mailbox:\nbefore %v\nafter  %v", before, after)
	}
	if left, _ := os.ReadDir(filepath.Join(data, "users", "alice", "Maildir", "tmp")); len(left) != 0 {
		t.Fatalf("tmp/ keeps %d files after the failed writes", len(left))
	}

	// Space again: both work, and the old mail is still there.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if st := c.Append("INBOX", "Subject: after\r\n\r\nbody\r\n"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("APPEND after freeing space: %s", st)
	}
	if err := lmtpTry(d.lmtp, "alice@example.org", "Subject: delivered after\r\n\r\nbody\r\n"); err != nil {
		t.Fatalf("LMTP after freeing space: %v", err)
	}
	c.MustOK("NOOP")
	after := snapshot(t, c)
	if len(after) != 6 {
		t.Fatalf("after freeing space: %d messages, want 6", len(after))
	}
	if !equalSnap(before, after[:4]) {
		t.Fatalf("old mail changed:\nbefore %v\nafter  %v", before, after[:4])
	}
}

// fillDisk writes path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatalf("fill disk: %v", err)
			}
			break
		}
	}
	// Smaller writes take the last blocks.
	for n := 4096; n >= 1; n /= 2 {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
}

// lmtpTry delivers msg to one recipient and returns the error, if any.
func lmtpTry(addr, to, msg string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		return err
	}
	return c.SendMail("sender@example.org", []string{to}, strings.NewReader(msg))
}

// snapshot returns "uid flags sha256" for each message of the selected
// mailbox, in order, leaving out \Recent.
func snapshot(t *testing.T, c *imaptest.Client) []string {
	t.Helper()
	re := regexp.MustCompile(`^\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) BODY\[\] \{(\d+)\}\r\n`)
	var snap []string
	for _, l := range c.MustOK("UID FETCH 1:* (UID FLAGS BODY.PEEK[])") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[3])
		body, rest := l[len(m[0]):], ""
		if len(body) >= n {
			body, rest = body[:n], body[n:]
		}
		if rest != ")" {
			t.Fatalf("after the literal of %d bytes: %q", n, rest)
		}
		// \Recent belongs to a session, not to the message.
		flags := strings.Join(slices.DeleteFunc(strings.Fields(m[2]), func(f string) bool { return f == `\Recent` }), " ")
		snap = append(snap, fmt.Sprintf("%s (%s) %x", m[1], flags, sha256.Sum256([]byte(body))))
	}
	return snap
}

func equalSnap(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}
