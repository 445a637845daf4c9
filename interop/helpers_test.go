package interop

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// requireTool returns the path of an external client program. When it is
// not installed the test skips, or fails under REQUIRE_INTEROP=1 (as in
// CI), so that a missing client cannot pass silently.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		missingClient(t, "%s is not installed: %v", name, err)
	}
	return path
}

// requireFile is requireTool for a client that is a file rather than a
// program on PATH (an npm package installed by `npm ci`).
func requireFile(t *testing.T, path, hint string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missingClient(t, "%s missing (%s): %v", path, hint, err)
	}
}

// missingClient skips the test, or fails it under REQUIRE_INTEROP=1.
func missingClient(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("REQUIRE_INTEROP") == "1" {
		t.Fatalf("REQUIRE_INTEROP=1 but %s", msg)
	}
	t.Skipf("skipping: %s (set REQUIRE_INTEROP=1 to fail instead)", msg)
}

// transcript collects a client's protocol log (safe for concurrent
// writes) and prints it when the test fails, so that a failure shows
// exactly what the server sent.
type transcript struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newTranscript(t *testing.T, name string) *transcript {
	tr := &transcript{}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		t.Logf("%s transcript:\n%s", name, tail(tr.String()))
	})
	return tr
}

func (tr *transcript) Write(p []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.Write(p)
}

func (tr *transcript) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.String()
}

// tail keeps a long protocol log readable in test output: the end is
// where a failure shows.
func tail(s string) string {
	const max = 64 << 10
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("[%d bytes before this left out]\n%s", len(s)-max, s[len(s)-max:])
}

// runScript runs an external client script with a deadline and returns
// its combined output; a non-zero exit fails the test with that output.
func runScript(t *testing.T, timeout time.Duration, cmd *exec.Cmd) string {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(cmd.Path), strings.Join(cmd.Args[1:], " "), err, tail(out.String()))
		}
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s timed out after %v\n%s", filepath.Base(cmd.Path), timeout, tail(out.String()))
	}
	return out.String()
}

// crlf turns a message written with \n line ends into the CRLF form IMAP
// and Maildir readers expect on the wire.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// simpleMessage is a small text/plain message with a unique Message-ID.
func simpleMessage(id, subject, body string) string {
	return crlf(fmt.Sprintf(`From: Alice Example <alice@example.org>
To: bob@example.org
Subject: %s
Date: Sat, 28 Nov 2026 10:00:00 +0000
Message-ID: <%s@interop.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

%s
`, subject, id, body))
}

// waitListening waits until addr accepts a TCP connection, the process
// behind it exits, or d passes.
func waitListening(addr string, exited <-chan struct{}, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v: %w", addr, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
