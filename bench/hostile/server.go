package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
)

// serverOpts says how to run the dormouse binary under test.
type serverOpts struct {
	bin            string
	hibernateAfter time.Duration
	loginTimeout   time.Duration // written to dormouse.toml; 0 = the default
	portBase       int           // imap, imaps, lmtp, metrics = base..base+3; 0 = free ports
}

// server is the dormouse binary serving one data folder as a child process,
// so that it can be measured from /proc, SIGKILLed and started again.
type server struct {
	opts                      serverOpts
	data                      string
	imap, imaps, lmtp, metric string
	cmd                       *exec.Cmd
	exited                    chan struct{}
	logPath                   string
	started                   time.Time
}

// newServer makes a data folder under dir with the given users (name →
// password) made by `dormouse user add`, and a dormouse.toml with the
// options that have no command-line flag.
func newServer(opts serverOpts, data string, users map[string]string) (*server, error) {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if opts.loginTimeout > 0 {
		conf := fmt.Sprintf("# written by bench/hostile\n[limits]\nlogin_timeout = %q\n", opts.loginTimeout.String())
		if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte(conf), 0o600); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	for name, pw := range users {
		if out, err := userAdd(opts.bin, data, name, pw); err != nil {
			return nil, fmt.Errorf("user add %s: %w\n%s", name, err, out)
		}
	}
	s := &server{opts: opts, data: data, logPath: filepath.Join(data, "hostile-server.log")}
	addrs := make([]string, 4)
	for i := range addrs {
		if opts.portBase > 0 {
			addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.portBase+i))
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		addrs[i] = ln.Addr().String()
		defer ln.Close() // held until all four are picked, so they differ
	}
	s.imap, s.imaps, s.lmtp, s.metric = addrs[0], addrs[1], addrs[2], addrs[3]
	return s, nil
}

// userAdd runs `dormouse user add` with the password on standard input.
func userAdd(bin, data, name, pw string) ([]byte, error) {
	add := exec.Command(bin, "user", "add", "--data", data, name)
	add.Stdin = strings.NewReader(pw + "\n")
	return add.CombinedOutput()
}

// start runs the server and waits until its IMAP, IMAPS and LMTP ports
// accept connections.
func (s *server) start() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	s.cmd = exec.Command(s.opts.bin, "serve", "--data", s.data, "--imap", s.imap, "--imaps", s.imaps,
		"--lmtp", s.lmtp, "--metrics", s.metric, "--hibernate-after", s.opts.hibernateAfter.String())
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start dormouse: %w", err)
	}
	s.started = time.Now()
	exited := make(chan struct{})
	s.exited = exited
	cmd := s.cmd
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range []string{s.lmtp, s.imap, s.imaps} {
		for {
			if !s.running() {
				return fmt.Errorf("dormouse serve exited at start; see %s", s.logPath)
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("dormouse serve not listening on %s after 30 s", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// running reports whether the process has not exited.
func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// pid is the server's process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop sends SIGTERM and waits up to bound, then SIGKILLs; it returns how
// long the process took to end and whether SIGTERM was enough.
func (s *server) stop(bound time.Duration) (time.Duration, bool) {
	t0 := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return time.Since(t0), true
	case <-time.After(bound):
		s.kill()
		return time.Since(t0), false
	}
}

// fds counts the server's open descriptors.
func (s *server) fds() int {
	n, _ := procmem.FDs(s.pid())
	return n
}

// rssKiB is the server's resident set now.
func (s *server) rssKiB() int64 {
	v, _ := procmem.StatusKiB(s.pid(), "VmRSS")
	return v
}

// cpu is the server's CPU time so far (user + system).
func (s *server) cpu() time.Duration {
	d, _ := procmem.CPU(s.pid())
	return d
}

// spool is the server's folder for literals and LMTP messages in transit.
func (s *server) spool() string { return filepath.Join(s.data, "spool") }

// duBytes sums the sizes of the regular files under dir (0 if it is gone).
func duBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// waitCPUQuiet waits until the server's CPU time grows by less than 50 ms
// in a second, or until bound; it returns the CPU time spent meanwhile and
// whether it went quiet.
func (s *server) waitCPUQuiet(ctx context.Context, bound time.Duration) (time.Duration, bool) {
	start := s.cpu()
	last := start
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) && ctx.Err() == nil && s.running() {
		time.Sleep(time.Second)
		now := s.cpu()
		if now-last < 50*time.Millisecond {
			return now - start, true
		}
		last = now
	}
	return s.cpu() - start, false
}

// errExited is returned by probes when the server died under them.
var errExited = errors.New("server exited")
