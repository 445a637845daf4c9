// Command hints measures delivery → EXISTS for a client asleep in IDLE
// when the server learns of deliveries from hints on DATA/notice.sock
// (inotify off), against the folder watch (inotify on, no hint). It starts
// a dormouse binary on a fresh data folder with one user, puts one client
// to sleep in IDLE on INBOX (hibernate_after 100ms), delivers -n messages
// one at a time, and times each from the delivery to the client's
// "* N EXISTS":
//
//	go build -o /tmp/dormouse ./cmd/dormouse
//	flock /tmp/dormouse-bench.lock go run ./bench/hints -bin /tmp/dormouse -n 300 -writer hint
//
// -writer says who delivers and what the time starts from:
//
//	hint     this process writes the file (tmp/, fsync, rename into new/)
//	         and sends the hint as `dormouse deliver` does; from just
//	         before the rename
//	deliver  a `dormouse deliver` process; from its start (so it includes
//	         starting a process)
//	inotify  this process writes the file and sends no hint, with inotify
//	         on: the folder watch's figure to compare; from just before
//	         the rename
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dormouse/dormouse/bench/internal/promtext"
	"github.com/dormouse/dormouse/bench/internal/stats"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/notice"
)

func main() {
	bin := flag.String("bin", "", "dormouse binary to measure (required)")
	n := flag.Int("n", 300, "deliveries to time")
	addr := flag.String("addr", "127.0.0.1:36410", "IMAP listen address for the server")
	metrics := flag.String("metrics", "127.0.0.1:36411", "metrics listen address for the server")
	writer := flag.String("writer", "hint", "hint, deliver or inotify (see the package comment)")
	gap := flag.Duration("gap", 50*time.Millisecond, "pause between deliveries")
	flag.Parse()
	if *bin == "" || *n < 1 || (*writer != "hint" && *writer != "deliver" && *writer != "inotify") {
		flag.Usage()
		os.Exit(64)
	}
	if err := run(*bin, *n, *addr, *metrics, *writer, *gap); err != nil {
		fmt.Fprintln(os.Stderr, "hints:", err)
		os.Exit(1)
	}
}

func run(bin string, n int, addr, metrics, writer string, gap time.Duration) error {
	data, err := os.MkdirTemp("", "dormouse-hints-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	conf := fmt.Sprintf("[store]\ninotify = %v\n", writer == "inotify")
	if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte(conf), 0o600); err != nil {
		return err
	}
	const user, password = "bench", "bench-password"
	add := exec.Command(bin, "user", "add", "--data", data, user)
	add.Stdin = strings.NewReader(password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		return fmt.Errorf("user add: %v: %s", err, out)
	}
	srv := exec.Command(bin, "serve", "--data", data, "--imap", addr, "--imaps", "", "--lmtp", "", "--metrics", metrics, "--hibernate-after", "100ms")
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	c, err := dialWhenUp(addr, 20*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.Timeout = time.Minute
	if err := c.Login(user, password); err != nil {
		return err
	}
	if _, st, err := c.Run("SELECT INBOX"); err != nil || !imaptest.IsOK(st) {
		return fmt.Errorf("SELECT INBOX: %q %v", st, err)
	}
	if err := c.Send("c IDLE"); err != nil {
		return err
	}
	if _, err := readUntil(c, "+ "); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond) // asleep after 100ms

	md := filepath.Join(data, "users", user, "Maildir")
	sock := filepath.Join(data, notice.HintSocketName)
	samples := make([]time.Duration, 0, n)
	for i := 1; i <= n; i++ {
		time.Sleep(gap)
		var t0 time.Time
		switch writer {
		case "deliver":
			t0 = time.Now()
			cmd := exec.Command(bin, "deliver", "--data", data, user)
			cmd.Stdin = strings.NewReader(fmt.Sprintf("Subject: %d\n\nbody\n", i))
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("deliver: %v: %s", err, out)
			}
		default:
			name := fmt.Sprintf("%d.P%dQ%d.bench", time.Now().Unix(), os.Getpid(), i)
			if err := writeFile(filepath.Join(md, "tmp", name), fmt.Sprintf("Subject: %d\n\nbody\n", i)); err != nil {
				return err
			}
			// The delivery is the rename into new/: what inotify
			// reports, and what the hint follows.
			t0 = time.Now()
			if err := os.Rename(filepath.Join(md, "tmp", name), filepath.Join(md, "new", name)); err != nil {
				return err
			}
			if writer == "hint" {
				if err := notice.SendHint(sock, notice.Hint{User: user, Mailbox: "INBOX", Folder: "new", Name: name}); err != nil {
					return err
				}
			}
		}
		want := fmt.Sprintf("* %d EXISTS", i)
		if _, err := readUntil(c, want); err != nil {
			return fmt.Errorf("delivery %d: %w", i, err)
		}
		samples = append(samples, time.Since(t0))
	}
	fmt.Printf("bin=%s writer=%s n=%d gap=%v\n", bin, writer, n, gap)
	fmt.Printf("delivery -> EXISTS: %s\n", stats.New(samples, 0))
	// The client slept all along: one hibernation, no wake.
	m, err := promtext.Fetch(context.Background(), http.DefaultClient, "http://"+metrics+"/metrics")
	if err != nil {
		return err
	}
	for _, series := range []string{"dormouse_imap_hibernations_total", `dormouse_imap_wakes_total{cause="mailbox"}`,
		`dormouse_imap_wakes_total{cause="client"}`, `dormouse_notice_hints_total{result="applied"}`} {
		fmt.Printf("%s %v\n", series, m.Value(series))
	}
	return nil
}

// writeFile writes and fsyncs a message file, as an MDA does.
func writeFile(path, body string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// dialWhenUp dials the server until it answers with its greeting.
func dialWhenUp(addr string, within time.Duration) (*imaptest.Conn, error) {
	deadline := time.Now().Add(within)
	for {
		c, _, err := imaptest.Dial(context.Background(), addr, imaptest.DialOptions{Timeout: 5 * time.Second})
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("server not listening on %s: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readUntil reads responses until one starts with prefix and returns it.
func readUntil(c *imaptest.Conn, prefix string) (string, error) {
	for {
		l, err := c.ReadResponse()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(l, prefix) {
			return l, nil
		}
	}
}
