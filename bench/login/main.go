// Command login measures what a repeated IMAP login costs the server, the
// way webmail logs in: a new connection per page, LOGIN with the same
// correct password, LOGOUT. It starts a dormouse binary on a fresh data
// folder with one user (a bcrypt password, as `dormouse user add` writes),
// logs in -n times one after another, and prints the server's CPU time
// (user + system, from /proc) per login and the LOGIN latency seen by the
// client.
//
//	go build -o /tmp/dormouse ./cmd/dormouse
//	flock /tmp/dormouse-bench.lock go run ./bench/login -bin /tmp/dormouse -n 300
//
// -cache-ttl writes [auth] cache_ttl into the configuration ("0s" turns
// the login cache off); left empty, the file does not name it, so a binary
// from before the cache existed can be measured too.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
	"github.com/dormouse/dormouse/bench/internal/stats"
)

func main() {
	bin := flag.String("bin", "", "dormouse binary to measure (required)")
	n := flag.Int("n", 300, "logins to time")
	addr := flag.String("addr", "127.0.0.1:22310", "IMAP listen address for the server")
	cacheTTL := flag.String("cache-ttl", "", `[auth] cache_ttl to configure ("" = leave it out)`)
	flag.Parse()
	if *bin == "" || *n < 1 {
		flag.Usage()
		os.Exit(64)
	}
	if err := run(*bin, *n, *addr, *cacheTTL); err != nil {
		fmt.Fprintln(os.Stderr, "login:", err)
		os.Exit(1)
	}
}

func run(bin string, n int, addr, cacheTTL string) error {
	data, err := os.MkdirTemp("", "dormouse-login-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	conf := "[limits]\nlogin_failures_per_addr = 0\nlogin_failures_per_user = 0\n"
	if cacheTTL != "" {
		conf += "[auth]\ncache_ttl = \"" + cacheTTL + "\"\n"
	}
	if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte(conf), 0o600); err != nil {
		return err
	}
	const user, password = "bench", "bench-password"
	add := exec.Command(bin, "user", "add", "--data", data, user)
	add.Stdin = strings.NewReader(password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		return fmt.Errorf("user add: %v: %s", err, out)
	}

	srv := exec.Command(bin, "serve", "--data", data, "--imap", addr, "--imaps", "", "--lmtp", "")
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := waitListening(ctx, addr); err != nil {
		return err
	}

	login := func() (time.Duration, error) { return loginOnce(ctx, addr, user, password) }
	if _, err := login(); err != nil { // the first: a full check in any case
		return err
	}
	cpu0, err := procmem.CPU(srv.Process.Pid)
	if err != nil {
		return err
	}
	start := time.Now()
	samples := make([]time.Duration, 0, n)
	for range n {
		d, err := login()
		if err != nil {
			return err
		}
		samples = append(samples, d)
	}
	wall := time.Since(start)
	cpu1, err := procmem.CPU(srv.Process.Pid)
	if err != nil {
		return err
	}
	perLogin := (cpu1 - cpu0) / time.Duration(n)
	fmt.Printf("bin=%s cache_ttl=%q n=%d\n", bin, cacheTTL, n)
	fmt.Printf("server CPU per login (connect, LOGIN, LOGOUT): %.3f ms (%v over %v wall)\n",
		float64(perLogin)/float64(time.Millisecond), cpu1-cpu0, wall.Round(time.Millisecond))
	fmt.Printf("LOGIN latency: %s\n", stats.New(samples, 0))
	return nil
}

func waitListening(ctx context.Context, addr string) error {
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not listening on %s: %w", addr, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// loginOnce connects, logs in and out, and returns how long LOGIN took.
func loginOnce(ctx context.Context, addr, user, password string) (time.Duration, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	r := bufio.NewReader(nc)
	if _, err := readUntil(r, "* OK"); err != nil {
		return 0, fmt.Errorf("greeting: %w", err)
	}
	t0 := time.Now()
	fmt.Fprintf(nc, "a LOGIN %q %q\r\n", user, password)
	l, err := readUntil(r, "a ")
	took := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("LOGIN: %w", err)
	}
	if !strings.HasPrefix(l, "a OK") {
		return 0, fmt.Errorf("LOGIN: %s", l)
	}
	fmt.Fprint(nc, "b LOGOUT\r\n")
	if _, err := readUntil(r, "b "); err != nil {
		return 0, fmt.Errorf("LOGOUT: %w", err)
	}
	return took, nil
}

// readUntil reads lines until one starts with prefix and returns it.
func readUntil(r *bufio.Reader, prefix string) (string, error) {
	for range 1000 {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(l, prefix) {
			return strings.TrimRight(l, "\r\n"), nil
		}
	}
	return "", errors.New("no reply in 1000 lines")
}
