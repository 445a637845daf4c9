package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/spool"
)

// TestLeftoversRemovedAtStart kills the daemon (SIGKILL) in the middle of
// a large APPEND and of an LMTP delivery, which leaves their spool files,
// and starts it again: the files of the killed process are gone, and a
// file that a live process (this test, holding a spool folder as a second
// server would) is writing is kept.
func TestLeftoversRemovedAtStart(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	d := startDaemon(t, data)
	root := filepath.Join(data, "spool")

	c := dialIMAP(t, d.imap, nil)
	c.MustOK("LOGIN alice alice-pw")
	c.Send("a1 APPEND INBOX {2000000}")
	if l := c.ReadLine(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND: %q", l)
	}
	c.NetConn().SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.NetConn(), strings.Repeat("x", 1_500_000)); err != nil {
		t.Fatal(err)
	}
	lmtpPartial(t, d.lmtp, "alice@example.org", strings.Repeat(strings.Repeat("y", 70)+"\r\n", 2000))
	waitSpooled(t, root, func(files map[string]int64) bool {
		var literal, lmtp bool
		for name, size := range files {
			literal = literal || strings.HasPrefix(filepath.Base(name), "dormouse-literal-") && size > 1<<20
			lmtp = lmtp || strings.HasPrefix(filepath.Base(name), "lmtp-")
		}
		return literal && lmtp
	})
	d.cmd.Process.Kill()
	<-d.exited
	left := spooledFiles(t, root)
	t.Logf("after SIGKILL the spool holds %d files", len(left))

	// A live process's folder and the file it is writing.
	live, err := spool.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	liveFile := filepath.Join(live.Path(), "dormouse-literal-live")
	if err := os.WriteFile(liveFile, []byte("being written"), 0o600); err != nil {
		t.Fatal(err)
	}

	startDaemon(t, data) // cleans before it listens
	after := spooledFiles(t, root)
	for name := range left {
		if _, ok := after[name]; ok {
			t.Errorf("leftover %s still there after a start", name)
		}
	}
	if _, ok := after[liveFile]; !ok || len(after) != 1 {
		t.Errorf("after a start the spool holds %v, want only the live file %s", after, liveFile)
	}
}

// lmtpPartial starts an LMTP delivery and sends part of its DATA.
func lmtpPartial(t *testing.T, addr, to, part string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(nc)
	expect := func(code string) {
		t.Helper()
		for {
			l, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(l, code) {
				t.Fatalf("LMTP: %q, %v; want %s", l, err, code)
			}
			if len(l) < 4 || l[3] != '-' {
				return
			}
		}
	}
	expect("220")
	for _, step := range []struct{ cmd, code string }{
		{"LHLO test", "250"}, {"MAIL FROM:<s@example.org>", "250"}, {"RCPT TO:<" + to + ">", "250"}, {"DATA", "354"},
	} {
		io.WriteString(nc, step.cmd+"\r\n")
		expect(step.code)
	}
	io.WriteString(nc, "Subject: cut short\r\n\r\n"+part)
}

// spooledFiles lists the files under root with their sizes.
func spooledFiles(t *testing.T, root string) map[string]int64 {
	t.Helper()
	files := map[string]int64{}
	filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				files[path] = fi.Size()
			}
		}
		return nil
	})
	return files
}

// waitSpooled waits until the files under root satisfy ok.
func waitSpooled(t *testing.T, root string, ok func(map[string]int64) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok(spooledFiles(t, root)) {
		if time.Now().After(deadline) {
			t.Fatalf("spool never reached the expected state: %v", spooledFiles(t, root))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
