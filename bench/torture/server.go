package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dormouse/dormouse/bench/internal/promtext"
)

// daemon is the dormouse binary serving a data folder, as a child process
// so that it can be SIGKILLed and started again on the same data.
type daemon struct {
	bin, data      string
	imap, lmtp     string
	metrics        string
	hibernateAfter time.Duration
	cmd            *exec.Cmd
	exited         chan struct{}
	logPath        string
}

// buildDormouse builds cmd/dormouse into dir.
func buildDormouse(dir string) (string, error) {
	bin := filepath.Join(dir, "dormouse")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/dormouse/dormouse/cmd/dormouse").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// newDaemon prepares a data folder with one user and picks free ports,
// or portBase and the two after it.
func newDaemon(bin, data string, hibernateAfter time.Duration, portBase int) (*daemon, error) {
	add := exec.Command(bin, "user", "add", "--data", data, user)
	add.Stdin = strings.NewReader(password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("user add: %w\n%s", err, out)
	}
	d := &daemon{bin: bin, data: data, hibernateAfter: hibernateAfter, logPath: filepath.Join(data, "torture-server.log")}
	if portBase > 0 {
		d.imap = fmt.Sprintf("127.0.0.1:%d", portBase)
		d.lmtp = fmt.Sprintf("127.0.0.1:%d", portBase+1)
		d.metrics = fmt.Sprintf("127.0.0.1:%d", portBase+2)
		return d, nil
	}
	var err error
	if d.imap, err = freeAddr(); err != nil {
		return nil, err
	}
	if d.lmtp, err = freeAddr(); err != nil {
		return nil, err
	}
	if d.metrics, err = freeAddr(); err != nil {
		return nil, err
	}
	return d, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs the server and waits until it accepts connections.
func (d *daemon) start() error {
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	d.cmd = exec.Command(d.bin, "serve", "--data", d.data, "--imap", d.imap, "--imaps", "",
		"--lmtp", d.lmtp, "--metrics", d.metrics, "--hibernate-after", d.hibernateAfter.String())
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start dormouse: %w", err)
	}
	d.exited = make(chan struct{})
	go func() {
		d.cmd.Wait()
		logf.Close()
		close(d.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("dormouse serve exited at start; see %s", d.logPath)
		default:
		}
		c, err := net.Dial("tcp", d.lmtp)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("dormouse serve not listening after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemon) kill() {
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// stop ends the server with SIGTERM (SIGKILL after 20 s).
func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		d.kill()
	}
}

// hibernation reads how often the running server has hibernated and woken
// connections (counted since it started).
func (d *daemon) hibernation() (hibernations, wakes float64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := promtext.Fetch(ctx, http.DefaultClient, "http://"+d.metrics+"/metrics")
	if err != nil {
		return 0, 0, err
	}
	for series, v := range s {
		if strings.HasPrefix(series, "dormouse_imap_wakes_total{") { // one per cause
			wakes += v
		}
	}
	return s.Value("dormouse_imap_hibernations_total"), wakes, nil
}
