package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// child is a server process this tool started, in its own process group so
// that stopping it also reaches every process it forked.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been waited for
	err  error         // Wait's result, set before done closes
}

// startChild starts cmd in a new process group.
func startChild(name string, cmd *exec.Cmd) (*child, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// pid is the process id of the child (the group leader).
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM and waits up to grace for the process to exit; then it
// kills the whole process group. Stragglers of the group are killed in any
// case, so nothing the server forked outlives it.
func (c *child) stop(grace time.Duration) error {
	pgid := c.pid()
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	var err error
	select {
	case <-c.done:
		err = c.err
	case <-time.After(grace):
		err = fmt.Errorf("%s did not stop within %v; killed", c.name, grace)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		return errors.Join(err, fmt.Errorf("%s: still running after SIGKILL", c.name))
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		return nil // ended by our signal
	}
	return err
}

// waitGreeting dials addr until it answers with an IMAP "* OK" greeting,
// up to timeout, or until the child exits.
func waitGreeting(ctx context.Context, c *child, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for i := 0; i < 10_000 && time.Now().Before(deadline); i++ {
		select {
		case <-c.done:
			return fmt.Errorf("%s exited during start: %v", c.name, c.err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(nc).ReadString('\n')
			nc.Close()
			if rerr == nil && strings.HasPrefix(line, "* OK") {
				return nil
			}
			err = fmt.Errorf("greeting %q: %v", line, rerr)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not answering on %s after %v: %v", c.name, addr, timeout, last)
}

// writePidFile records a pid for run.sh's cleanup trap.
func writePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d\n", pid)), 0o600); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// serverProcess is a started server child with its pid file: what dovecot and
// dormouse share.
type serverProcess struct {
	pidFile string
	c       *child
}

// PID is the process id of the running server.
func (s *serverProcess) PID() int { return s.c.pid() }

// launch starts cmd as the server name, records its pid and waits until
// addr greets; a server that does not greet is stopped with grace.
func (s *serverProcess) launch(ctx context.Context, name string, cmd *exec.Cmd, addr string, grace time.Duration) error {
	c, err := startChild(name, cmd)
	if err != nil {
		return err
	}
	s.c = c
	if err := writePidFile(s.pidFile, c.pid()); err != nil {
		return err
	}
	if err := waitGreeting(ctx, c, addr, 30*time.Second); err != nil {
		return errorsJoinStop(err, s.halt(grace))
	}
	return nil
}

// halt stops the server, if running, waiting up to grace after SIGTERM.
func (s *serverProcess) halt(grace time.Duration) error {
	if s.c == nil {
		return nil
	}
	err := s.c.stop(grace)
	s.c = nil
	_ = os.Remove(s.pidFile)
	return err
}
