package proxy

import (
	"crypto/tls"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testcert"
)

// testProxy is a running proxy with its IMAP (STARTTLS) and IMAPS
// listeners on 127.0.0.1.
type testProxy struct {
	*Proxy
	Addr, TLSAddr string
	ClientTLS     *tls.Config
}

// startProxy runs a proxy in front of backends, checking passwords in
// passwd, until the test ends.
func startProxy(t testing.TB, passwd string, backends []string, edit func(*Config)) *testProxy {
	t.Helper()
	users, err := auth.Open(passwd)
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, cliTLS := testcert.New(t)
	cfg := Config{
		Backends: backends,
		Secret:   testSecret,
		Auth:     users,
		TLS:      srvTLS,
		Limits: imapserver.Limits{
			MaxLine:              8 << 10,
			MaxLiteral:           1 << 20,
			LoginTimeout:         time.Minute,
			FailedLoginDelay:     0,
			LoginFailuresPerAddr: 10,
			LoginFailuresPerUser: 3,
			LoginFailureRefill:   time.Minute,
			LoginPenaltyMax:      time.Second,
		},
		DialTimeout: 5 * time.Second,
		Logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(ln, false)
	go p.Serve(tln, true)
	t.Cleanup(func() { p.Close() })
	return &testProxy{Proxy: p, Addr: ln.Addr().String(), TLSAddr: tln.Addr().String(), ClientTLS: cliTLS}
}

// testSecret is the [cluster] secret of the tests' backends and proxies.
const testSecret = "s3cret-proxy-0123456789"

// newPasswd writes a passwd-file with alice (password "alice-pw").
func newPasswd(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "passwd")
	if err := auth.AddUser(path, "alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *testProxy) dial(t testing.TB) *imaptest.Client {
	return imaptest.DialT(t, p.Addr, imaptest.DialOptions{})
}

func (p *testProxy) dialTLS(t testing.TB) *imaptest.Client {
	return imaptest.DialT(t, p.TLSAddr, imaptest.DialOptions{TLS: p.ClientTLS})
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// testWriter writes a proxy's log lines to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log("proxy: " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
