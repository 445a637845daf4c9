package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The daemon under systemd: it serves IMAP, IMAPS and LMTP on sockets it
// did not open, passed as descriptors 3, 4 and 5 with LISTEN_FDS,
// LISTEN_FDNAMES and its own pid in LISTEN_PID (a shell exports its pid
// and execs the daemon, keeping pid and descriptors, as systemd does), and
// reports READY=1, RELOADING=1 (with MONOTONIC_USEC) then READY=1 on
// SIGHUP, and STOPPING=1 on SIGTERM to the NOTIFY_SOCKET the test reads.
func TestSocketActivation(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")

	notifyPath := filepath.Join(t.TempDir(), "notify")
	ns, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	states := make(chan string, 16)
	go func() {
		defer close(states)
		buf := make([]byte, 4096)
		for {
			n, _, err := ns.ReadFromUnix(buf)
			if err != nil {
				return
			}
			states <- string(buf[:n])
		}
	}()

	names := []string{"imap", "imaps", "lmtp"}
	addrs := make(map[string]string)
	var files []*os.File
	for _, name := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := ln.(*net.TCPListener).File() // a duplicate: the socket outlives ln
		ln.Close()
		if err != nil {
			t.Fatal(err)
		}
		addrs[name] = ln.Addr().String()
		files = append(files, f)
	}

	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`,
		binPath, "serve", "--data", data, "--metrics", "")
	cmd.Env = append(os.Environ(), "LISTEN_FDS=3", "LISTEN_FDNAMES="+strings.Join(names, ":"), "NOTIFY_SOCKET="+notifyPath)
	cmd.ExtraFiles = files
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range files { // now only the daemon holds the sockets
		f.Close()
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("dormouse serve stderr:\n%s", stderr.String())
		}
	})

	expect := func(re string) {
		t.Helper()
		select {
		case s := <-states:
			if !regexp.MustCompile(re).MatchString(s) {
				t.Fatalf("sd_notify state %q, want %s", s, re)
			}
		case err := <-exited:
			t.Fatalf("dormouse serve exited (%v) waiting for %s", err, re)
		case <-time.After(30 * time.Second):
			t.Fatalf("no sd_notify state %s after 30s", re)
		}
	}
	expect(`^READY=1$`)

	c := dialIMAP(t, addrs["imap"], nil)
	c.MustOK("LOGIN alice alice-pw")
	c.MustOK("LOGOUT")
	s := dialIMAP(t, addrs["imaps"], caConfig(t, data))
	s.MustOK("LOGIN alice alice-pw")
	lmtpSend(t, addrs["lmtp"], "alice@example.org", "Subject: activated\r\n\r\nhello\r\n")
	if got := inboxSubjects(t, s); len(got) != 1 || got[0] != "activated" {
		t.Errorf("INBOX after LMTP on the passed socket: %q", got)
	}
	for _, name := range names {
		if want := "listener=" + name + " addr=" + addrs[name]; !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	expect(`^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$`)
	expect(`^READY=1$`)
	s.MustOK("NOOP") // still serving

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expect(`^STOPPING=1$`)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("dormouse serve did not exit after SIGTERM")
	}
}

// Socket activation refuses what it cannot serve, and ignores descriptors
// meant for another process.
func TestListenersFromEnv(t *testing.T) {
	tests := []struct {
		name, pid, fds, names string
		wantErr               string // "" = no error, no listeners
	}{
		{"not activated", "", "", "", ""},
		{"for another process", "1", "1", "imap", ""},
		{"bad count", "100", "x", "imap", "LISTEN_FDS"},
		{"names missing", "100", "2", "imap", "LISTEN_FDNAMES"},
		{"unnamed", "100", "1", "", "LISTEN_FDNAMES"},
		{"unknown name", "100", "1", "pop3", `named "pop3"`},
		{"twice the same name", "100", "2", "imap:imap", `two sockets named "imap"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lns, err := listenersFromEnv(tt.pid, tt.fds, tt.names, 100)
			if tt.wantErr == "" {
				if err != nil || lns != nil {
					t.Errorf("got %v, %v; want nothing", lns, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one about %s", err, tt.wantErr)
			}
		})
	}
}

// The same daemon started by systemd's own socket activator
// (systemd-socket-activate, from the systemd package): it opens the three
// sockets, waits for the first connection, then execs the daemon with
// LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES set as systemd sets them. The
// connection that caused the start is served, and so are the others.
func TestSystemdSocketActivate(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		if os.Getenv("REQUIRE_INTEROP") == "1" {
			t.Fatal("systemd-socket-activate not installed (Debian: systemd) and REQUIRE_INTEROP=1")
		}
		t.Skip("systemd-socket-activate not installed (Debian package systemd)")
	}
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	imapAddr, imapsAddr, lmtpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := exec.Command(activate, "-l", imapAddr, "-l", imapsAddr, "-l", lmtpAddr,
		"--fdname=imap:imaps:lmtp", binPath, "serve", "--data", data, "--metrics", "")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("systemd-socket-activate dormouse serve stderr:\n%s", stderr.String())
		}
	})
	// The activator binds its sockets once it runs: wait until the IMAP
	// socket accepts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", imapAddr, time.Second)
		if err == nil {
			nc.Close() // this connection starts the daemon
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("activator never listened on %s: %v", imapAddr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	c := dialIMAP(t, imapAddr, nil)
	c.MustOK("LOGIN alice alice-pw")
	c.MustOK("LOGOUT")
	s := dialIMAP(t, imapsAddr, caConfig(t, data))
	s.MustOK("LOGIN alice alice-pw")
	lmtpSend(t, lmtpAddr, "alice@example.org", "Subject: by systemd\r\n\r\nhello\r\n")
	if got := inboxSubjects(t, s); len(got) != 1 || got[0] != "by systemd" {
		t.Errorf("INBOX after LMTP on systemd's socket: %q", got)
	}
	for name, addr := range map[string]string{"imap": imapAddr, "imaps": imapsAddr, "lmtp": lmtpAddr} {
		if want := "listener=" + name + " addr=" + addr; !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q: the daemon did not take systemd's socket", want)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("dormouse serve did not exit after SIGTERM")
	}
}
