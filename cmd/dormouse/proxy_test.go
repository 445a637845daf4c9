package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestProxyE2E runs the binaries: `dormouse serve` as a backend with a
// [cluster] secret, `dormouse proxy` in front of it on the same data
// folder's users and certificate. A client logs in through the proxy,
// IDLEs, and sleeps at the proxy: the backend handed it over and holds
// no connection for it; a delivery by `dormouse deliver` reaches it as
// EXISTS through the backend's notice on its embedded NATS; DONE and
// NOOP are answered, and SIGTERM stops the proxy with status 0.
func TestProxyE2E(t *testing.T) {
	data := t.TempDir()
	natsAddr := freeAddr(t)
	cfg := "[cluster]\nsecret = \"e2e-proxy-secret-0123456789\"\nnats = \"embedded:" + natsAddr + "\"\n[imap]\nhibernate_after = \"300ms\"\n"
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	backend := startDaemon(t, data)
	pw := backend.demoPassword(t)

	px := &daemon{t: t, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	px.imap, px.imaps, px.metric = freeAddr(t), freeAddr(t), freeAddr(t)
	px.run(t, "", []string{"proxy", "--data", data, "--imap", px.imap, "--imaps", px.imaps, "--metrics", px.metric, "--backends", backend.imap})
	if !testserver.Eventually(20*time.Second, func() bool {
		c, err := net.Dial("tcp", px.imaps)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("dormouse proxy not listening\n%s", px.stderr.String())
	}
	c := dialIMAP(t, px.imap, nil)
	if !strings.Contains(c.Greeting, "Dormouse proxy ready") {
		t.Fatalf("greeting %q", c.Greeting)
	}
	c.Login("demo", pw)
	c.MustOK("SELECT INBOX")
	c.Run(`
C: i1 IDLE
S: + idling
`)
	handedOff := regexp.MustCompile(`(?m)^dormouse_imap_proxy_handoffs_total 1$`)
	conns := regexp.MustCompile(`(?m)^dormouse_imap_connections\{state="\w+"\} [1-9]`)
	var m string
	if !testserver.Eventually(testserver.Patience, func() bool {
		m = scrape(t, backend.metric)
		return handedOff.MatchString(m) && !conns.MatchString(m)
	}) {
		t.Fatalf("backend still holds the sleeper:\n%s", m)
	}
	if v := metricValue(t, px.metric, "dormouse_proxy_sleepers"); v != 1 {
		t.Errorf("proxy sleepers %v, want 1", v)
	}
	// A delivery by `dormouse deliver` reaches the client asleep at the
	// proxy: serve publishes the change on its embedded NATS, the proxy
	// (which read the same [cluster] nats) wakes the session.
	if code, _, stderr := runDormouse(t, "From: a@example.org\r\nSubject: e2e\r\n\r\nhi\r\n", "deliver", "--data", data, "demo"); code != 0 {
		t.Fatalf("deliver: %d %s", code, stderr)
	}
	c.Run(`
S: * 1 EXISTS
S: * 1 RECENT
`)
	if v := metricValue(t, px.metric, `dormouse_proxy_wakes_total{reason="notice"}`); v != 1 {
		t.Errorf("proxy notice wakes %v, want 1", v)
	}
	c.Run(`
C: DONE
S: i1 OK IDLE terminated
C: n1 NOOP
S: n1 OK NOOP completed
`)
	if code := px.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("proxy exit %d\n%s", code, px.stderr.String())
	}
}
