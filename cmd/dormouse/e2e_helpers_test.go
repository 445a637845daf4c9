package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dormouse/dormouse/config"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// binPath is the dormouse binary built once for the end-to-end tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dormouse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "dormouse")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runDormouse runs the binary to completion and returns its exit code and
// output.
func runDormouse(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run dormouse %v: %v", args, err)
	}
	return code, o.String(), e.String()
}

// lockedBuffer is a bytes.Buffer safe to read while the process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// prepend puts s before what was written so far.
func (b *lockedBuffer) prepend(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rest := b.b.String()
	b.b.Reset()
	b.b.WriteString(s + rest)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// daemon is a running `dormouse serve`.
type daemon struct {
	t                         *testing.T
	imap, imaps, lmtp, metric string
	cmd                       *exec.Cmd
	stdout, stderr            *lockedBuffer
	exited                    chan struct{}
	exitErr                   error
}

// serveRun says how to start `dormouse serve`.
type serveRun struct {
	dir  string   // working directory ("" = the test's)
	args []string // after "serve"
	// defaultPorts leaves the listen addresses to the configuration (the
	// defaults, 127.0.0.1:1143, 1993 and 2424) instead of adding flags
	// for free ports; metrics stay off.
	defaultPorts bool
}

// startDaemon starts `dormouse serve` on free ports with data folder data
// and waits until it accepts IMAP connections. It is stopped with SIGKILL
// when the test ends if still running.
func startDaemon(t *testing.T, data string, extra ...string) *daemon {
	t.Helper()
	return startServe(t, serveRun{args: append([]string{"--data", data}, extra...)})
}

// startServe starts `dormouse serve` as r says and waits until it accepts
// connections. A port found free may be taken by another test's socket
// before the daemon binds it: then it starts again on other ports.
func startServe(t *testing.T, r serveRun) *daemon {
	t.Helper()
	// An attempt that lost a port may have run far enough to create the
	// data folder and print the demo user's password: what it printed
	// belongs to the daemon that goes on.
	var earlier string
	for attempt := 1; ; attempt++ {
		d, portTaken := launchDaemon(t, r)
		if !portTaken {
			d.stdout.prepend(earlier)
			return d
		}
		earlier += d.stdout.String()
		if r.defaultPorts || attempt == 5 {
			t.Fatalf("dormouse serve: ports taken (attempt %d)\nstderr:\n%s", attempt, d.stderr.String())
		}
	}
}

// launchDaemon is one attempt of startServe; portTaken reports that the
// daemon exited because a port was in use.
func launchDaemon(t *testing.T, r serveRun) (d *daemon, portTaken bool) {
	t.Helper()
	d = &daemon{
		t:      t,
		stdout: &lockedBuffer{}, stderr: &lockedBuffer{},
		exited: make(chan struct{}),
	}
	args := append([]string{"serve"}, r.args...)
	if r.defaultPorts {
		def := config.Default().Listen
		d.imap, d.imaps, d.lmtp = string(def.IMAP), string(def.IMAPS), string(def.LMTP)
	} else {
		d.imap, d.imaps, d.lmtp, d.metric = freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
		args = append(args, "--imap", d.imap, "--imaps", d.imaps, "--lmtp", d.lmtp, "--metrics", d.metric)
	}
	d.run(t, r.dir, args)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-d.exited:
			if strings.Contains(d.stderr.String(), "address already in use") {
				return d, true
			}
			t.Fatalf("dormouse serve exited: %v\nstdout:\n%s\nstderr:\n%s", d.exitErr, d.stdout.String(), d.stderr.String())
		default:
		}
		// The LMTP listener opens with the others; all are listening once
		// one of the last accepts.
		c, err := net.Dial("tcp", d.lmtp)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dormouse serve not listening after 20s\nstderr:\n%s", d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d, false
}

// stop sends sig and waits for the exit; it returns the exit code.
func (d *daemon) stop(sig syscall.Signal) int {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(40 * time.Second):
		d.t.Fatalf("dormouse serve did not exit after %v", sig)
	}
	var ee *exec.ExitError
	if errors.As(d.exitErr, &ee) {
		return ee.ExitCode()
	}
	if d.exitErr != nil {
		d.t.Fatal(d.exitErr)
	}
	return 0
}

// dialIMAP connects to a daemon's IMAP listener, with implicit TLS when
// tlsConfig is set, and reads the greeting.
func dialIMAP(t *testing.T, addr string, tlsConfig *tls.Config) *imaptest.Client {
	t.Helper()
	return imaptest.DialT(t, addr, imaptest.DialOptions{TLS: tlsConfig})
}

// run starts the binary with args in dir (the test's folder when empty)
// as d's process, and has the test kill it, and show its stderr if the
// test failed, at the end.
func (d *daemon) run(t *testing.T, dir string, args []string) {
	t.Helper()
	d.cmd = exec.Command(binPath, args...)
	d.cmd.Dir = dir
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.exitErr = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("dormouse %s stderr:\n%s", strings.Join(args, " "), d.stderr.String())
		}
	})
}

// demoPassword waits for the first start's "Created user" line on stdout
// and returns the password. The line is written before the listeners open,
// but the pipe is copied into d.stdout by a goroutine of exec: a daemon
// that accepts already may not be on stdout yet.
func (d *daemon) demoPassword(t *testing.T) string {
	t.Helper()
	created := regexp.MustCompile(`Created user "demo" with password (\S+)\n`)
	var m []string
	testserver.Eventually(testserver.Patience, func() bool {
		m = created.FindStringSubmatch(d.stdout.String())
		return m != nil
	})
	if m == nil {
		t.Fatalf("no demo password on stdout: %q", d.stdout.String())
	}
	return m[1]
}
