package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/internal/tlsutil"
)

// addUser runs `dormouse user add` with the password on stdin.
func addTestUser(t *testing.T, data, name, password string) {
	t.Helper()
	if code, _, stderr := runDormouse(t, password+"\n", "user", "add", "--data", data, name); code != 0 {
		t.Fatalf("user add %s: exit %d: %s", name, code, stderr)
	}
}

func TestFirstStart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "dormouse-data")
	d := startDaemon(t, data)
	password := d.demoPassword(t)
	if strings.Contains(d.stderr.String(), password) {
		t.Error("the demo password appears in the log")
	}
	for _, f := range []string{"dormouse.toml", "passwd", "tls/ca.crt", "tls/server.crt", "tls/server.key", "users"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("first start did not create %s: %v", f, err)
		}
	}
	c := dialIMAP(t, d.imap, nil)
	c.MustOK("LOGIN demo " + imaptest.Quote(password))
	c.MustOK("SELECT INBOX")
	c.MustOK("LOGOUT")

	body := scrape(t, d.metric)
	for _, want := range []string{"go_goroutines", "process_open_fds", `dormouse_lmtp_deliveries_total{result="ok"} 0`, `dormouse_imap_logins_total`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	// A second start keeps the data: no new demo user, same password works.
	d2 := startDaemon(t, data)
	dialIMAP(t, d2.imap, nil).MustOK("LOGIN demo " + imaptest.Quote(password))
	code := d2.stop(syscall.SIGINT)
	if strings.Contains(d2.stdout.String(), "Created user") { // all of stdout is in once it exited
		t.Error("second start made a new demo user")
	}
	if code != 0 {
		t.Errorf("exit code after SIGINT = %d, want 0", code)
	}
}

func lmtpSend(t *testing.T, addr, to, msg string) {
	t.Helper()
	if code, ec := lmtpCode(t, addr, to, msg); code != 250 {
		t.Fatalf("LMTP delivery to %s: %d %v", to, code, ec)
	}
}

// The acceptance test of delivery: mail delivered by LMTP (go-smtp's client
// and swaks) and by `dormouse deliver` reaches a client in IDLE at once.
func TestDeliveryWakesIdleClient(t *testing.T) {
	for _, hib := range []string{"0", "200ms"} {
		t.Run("hibernate-after="+hib, func(t *testing.T) {
			data := t.TempDir()
			addTestUser(t, data, "alice", "alice-pw")
			d := startDaemon(t, data, "--hibernate-after", hib)

			c := dialIMAP(t, d.imap, nil)
			c.MustOK("LOGIN alice alice-pw")
			c.MustOK("SELECT INBOX")
			c.Send("i1 IDLE")
			if l := c.ReadLine(); !strings.HasPrefix(l, "+") {
				t.Fatalf("IDLE: %q", l)
			}
			// The metrics show the connection idling, or hibernated once
			// hibernate-after has passed: the deliveries below wake it.
			state := "idling"
			if hib != "0" {
				state = "hibernated"
			}
			inState := regexp.MustCompile(`(?m)^dormouse_imap_connections\{state="` + state + `"\} 1$`)
			waitInState := func() {
				t.Helper()
				var m string
				if !testserver.Eventually(testserver.Patience, func() bool { m = scrape(t, d.metric); return inState.MatchString(m) }) {
					t.Fatalf("metrics do not show the IDLE connection %s:\n%s", state, grepLines(m, "dormouse_imap_connections"))
				}
			}
			waitInState()

			n := 0
			lmtpSend(t, d.lmtp, "alice@example.org", "Subject: via go-smtp\r\n\r\nhello\r\n")
			n++
			c.WaitFor(fmt.Sprintf(`^\* %d EXISTS$`, n))

			if swaks, err := exec.LookPath("swaks"); err == nil {
				host, port, _ := net.SplitHostPort(d.lmtp)
				out, err := exec.Command(swaks, "--server", host, "--port", port, "--protocol", "LMTP",
					"--from", "sender@example.org", "--to", "alice@example.org", "--header", "Subject: via swaks").CombinedOutput()
				if err != nil {
					t.Fatalf("swaks: %v\n%s", err, out)
				}
				n++
				c.WaitFor(fmt.Sprintf(`^\* %d EXISTS$`, n))
			} else if os.Getenv("REQUIRE_INTEROP") == "1" {
				t.Error("swaks not installed and REQUIRE_INTEROP=1")
			}

			waitInState() // asleep again, for the third wake
			code, _, stderr := runDormouse(t, "Subject: via deliver\n\nhello\n", "deliver", "--data", data, "alice")
			if code != 0 {
				t.Fatalf("deliver: exit %d: %s", code, stderr)
			}
			n++
			c.WaitFor(fmt.Sprintf(`^\* %d EXISTS$`, n))

			c.Send("DONE")
			c.ReadUntilTagged("i1")
			lines := c.MustOK("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
			all := strings.Join(lines, "\n")
			for _, s := range []string{"via go-smtp", "via deliver"} {
				if !strings.Contains(all, "Subject: "+s) {
					t.Errorf("no message %q in INBOX:\n%s", s, all)
				}
			}
			if code := d.stop(syscall.SIGTERM); code != 0 {
				t.Errorf("exit code after SIGTERM = %d, want 0", code)
			}
		})
	}
}

func caConfig(t *testing.T, data string) *tls.Config {
	t.Helper()
	pool, err := tlsutil.CertPool(filepath.Join(data, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

func TestTLS(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	// Plaintext authentication off, even on loopback.
	if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte("[auth]\nplaintext = \"never\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, data)

	t.Run("implicit TLS", func(t *testing.T) {
		c := dialIMAP(t, d.imaps, caConfig(t, data))
		st := c.NetConn().(*tls.Conn).ConnectionState()
		if st.Version < tls.VersionTLS12 {
			t.Errorf("TLS version %x", st.Version)
		}
		c.MustOK("LOGIN alice alice-pw")
	})
	t.Run("implicit TLS refuses TLS 1.1", func(t *testing.T) {
		cfg := caConfig(t, data)
		cfg.MaxVersion = tls.VersionTLS11
		nc, err := tls.Dial("tcp", d.imaps, cfg)
		if err == nil {
			nc.Close()
			t.Fatal("TLS 1.1 handshake succeeded")
		}
	})
	t.Run("plain connection", func(t *testing.T) {
		c := dialIMAP(t, d.imap, nil)
		lines := c.MustOK("CAPABILITY")
		capLine := lines[0]
		for _, want := range []string{"STARTTLS", "LOGINDISABLED"} {
			if !strings.Contains(capLine, want) {
				t.Errorf("capabilities %q lack %s", capLine, want)
			}
		}
		if _, status := c.Do("LOGIN alice alice-pw"); strings.HasPrefix(status, "OK") {
			t.Fatalf("LOGIN before STARTTLS: %s", status)
		}
		if _, status := c.Do("AUTHENTICATE PLAIN AGFsaWNlAGFsaWNlLXB3"); strings.HasPrefix(status, "OK") {
			t.Fatalf("AUTHENTICATE PLAIN before STARTTLS: %s", status)
		}
		c.MustOK("STARTTLS")
		if err := c.Conn.StartTLS(caConfig(t, data)); err != nil {
			t.Fatalf("STARTTLS against the generated CA: %v", err)
		}
		lines = c.MustOK("CAPABILITY")
		if strings.Contains(lines[0], "LOGINDISABLED") || strings.Contains(lines[0], "STARTTLS") {
			t.Errorf("after STARTTLS: %q", lines[0])
		}
		c.MustOK("LOGIN alice alice-pw")
	})
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

// SIGTERM while clients append: every APPEND that was answered OK must be
// there after a restart, and the server exits 0.
func TestSIGTERMDuringAppends(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	d := startDaemon(t, data)

	const clients = 4
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	stopAt := time.Now().Add(500 * time.Millisecond)
	for i := range clients {
		c := dialIMAP(t, d.imap, nil)
		c.MustOK("LOGIN alice alice-pw")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				subj := fmt.Sprintf("m-%d-%d", i, j)
				status, err := c.Conn.Append("INBOX", []byte("Subject: "+subj+"\r\n\r\nbody\r\n"))
				if err != nil || !strings.HasPrefix(status, "OK") {
					return // the server is going away
				}
				mu.Lock()
				acked = append(acked, subj)
				mu.Unlock()
				if j > 10000 {
					return
				}
			}
		}()
	}
	idler := dialIMAP(t, d.imap, nil)
	idler.MustOK("LOGIN alice alice-pw")
	idler.MustOK("SELECT INBOX")
	idler.Send("i1 IDLE")
	if l := idler.ReadLine(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	time.Sleep(time.Until(stopAt))
	code := d.stop(syscall.SIGTERM)
	wg.Wait()
	// The idling client was told before the connection closed.
	idler.WaitFor(`^\* BYE`)
	if code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if len(acked) == 0 {
		t.Fatal("no APPEND acknowledged before SIGTERM")
	}
	t.Logf("%d appends acknowledged before SIGTERM", len(acked))

	d2 := startDaemon(t, data)
	c := dialIMAP(t, d2.imap, nil)
	c.MustOK("LOGIN alice alice-pw")
	c.MustOK("SELECT INBOX")
	lines := c.MustOK("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	have := map[string]bool{}
	for _, m := range regexp.MustCompile(`Subject: (m-\d+-\d+)`).FindAllStringSubmatch(strings.Join(lines, "\n"), -1) {
		have[m[1]] = true
	}
	for _, s := range acked {
		if !have[s] {
			t.Errorf("acknowledged message %s missing after restart", s)
		}
	}
	d2.stop(syscall.SIGTERM)
}

func TestUserCommands(t *testing.T) {
	data := t.TempDir()
	tests := []struct {
		args    []string
		stdin   string
		code    int
		wantOut string
		wantErr string
	}{
		{[]string{"user", "add", "--data", data, "alice"}, "pw1\n", 0, "", ""},
		{[]string{"user", "add", "bob", "--data", data}, "pw2", 0, "", ""},
		{[]string{"user", "add", "--data", data, "alice"}, "pw\n", 1, "", "already exists"},
		{[]string{"user", "add", "--data", data, "bad/name"}, "pw\n", 64, "", "invalid user name"},
		{[]string{"user", "add", "--data", data, "carol"}, "", 64, "", "password"},
		{[]string{"user", "list", "--data", data}, "", 0, "alice\nbob\n", ""},
		{[]string{"user", "passwd", "--data", data, "alice"}, "pw3\n", 0, "", ""},
		{[]string{"user", "passwd", "--data", data, "nobody"}, "pw\n", 67, "", "no such user"},
		{[]string{"user", "del", "--data", data, "bob"}, "", 0, "", ""},
		{[]string{"user", "del", "--data", data, "bob"}, "", 67, "", "no such user"},
		{[]string{"user", "list", "--data", data}, "", 0, "alice\n", ""},
		{[]string{"user", "add", "--data", data}, "", 64, "", "one NAME"},
		{[]string{"user", "frob", "--data", data, "x"}, "", 64, "", "unknown user command"},
		{[]string{"frob"}, "", 64, "", "Usage"},
	}
	for _, tt := range tests {
		code, out, errOut := runDormouse(t, tt.stdin, tt.args...)
		if code != tt.code || out != tt.wantOut || !strings.Contains(errOut, tt.wantErr) {
			t.Errorf("dormouse %q: exit %d, stdout %q, stderr %q; want %d, %q, stderr with %q",
				tt.args, code, out, errOut, tt.code, tt.wantOut, tt.wantErr)
		}
	}
	pw, err := os.ReadFile(filepath.Join(data, "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^alice:\{BLF-CRYPT\}\$2y\$`).Match(pw) {
		t.Errorf("passwd-file not in Dovecot form: %q", pw)
	}
}

func TestDeliverExitCodes(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "pw")
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		{"ok", []string{"deliver", "--data", data, "alice"}, "Subject: a\n\nx\n", 0},
		{"other mailbox", []string{"deliver", "--data", data, "--mailbox", "Archive", "alice"}, "Subject: b\n\nx\n", 0},
		{"missing mailbox falls back to INBOX", []string{"deliver", "--data", data, "--mailbox", "Nope", "alice"}, "Subject: c\n\nx\n", 0},
		{"no user", []string{"deliver", "--data", data, "nobody"}, "Subject: a\n\nx\n", 67},
		{"no USER argument", []string{"deliver", "--data", data}, "", 64},
		{"bad flag", []string{"deliver", "--frob", "alice"}, "", 64},
		{"empty message", []string{"deliver", "--data", data, "alice"}, "", 65},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runDormouse(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
		})
	}
	count := func(dir string) int {
		es, err := os.ReadDir(filepath.Join(data, "users", "alice", "Maildir", dir, "new"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return len(es)
	}
	if n := count(""); n != 2 {
		t.Errorf("INBOX new/ holds %d messages, want 2", n)
	}
	if n := count(".Archive"); n != 1 {
		t.Errorf("Archive new/ holds %d messages, want 1", n)
	}
}

// SIGHUP reloads the certificate: after the files are replaced, new
// handshakes show the new certificate, and the server keeps running.
func TestSIGHUPReloadsCertificate(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "alice", "alice-pw")
	d := startDaemon(t, data)
	oldCA := caConfig(t, data)
	dialIMAP(t, d.imaps, oldCA).MustOK("NOOP")

	other := t.TempDir()
	files, _, err := tlsutil.EnsureSelfSigned(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{files.ServerCert, "server.crt"}, {files.ServerKey, "server.key"}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, "tls", p[1]), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	pool, err := tlsutil.CertPool(files.CACert)
	if err != nil {
		t.Fatal(err)
	}
	newCA := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := tls.Dial("tcp", d.imaps, newCA)
		if err == nil {
			nc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new certificate not served 10s after SIGHUP: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if nc, err := tls.Dial("tcp", d.imaps, oldCA); err == nil {
		nc.Close()
		t.Error("old certificate still served after SIGHUP")
	}
	c := dialIMAP(t, d.imap, nil)
	c.MustOK("STARTTLS")
	tc := tls.Client(c.NetConn(), newCA)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("STARTTLS after SIGHUP: %v", err)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

// A configuration error stops the server before it listens, naming the
// key and line, with EX_CONFIG.
func TestBadConfig(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"unknown key", "[listen]\nimap = \"127.0.0.1:0\"\nimapz = \"x:1\"\n", `line 3: unknown setting "listen.imapz"`},
		{"bad value", "[log]\n\nformat = \"xml\"\n", `line 3: log.format`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runDormouse(t, "", "serve", "--data", data, "--imap", "", "--imaps", "", "--lmtp", "")
			if code != 78 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 78 and %q", code, stderr, tt.want)
			}
		})
	}
	code, _, stderr := runDormouse(t, "", "serve", "--data", t.TempDir(), "--imap", "nonsense")
	if code != 64 || !strings.Contains(stderr, "--imap") {
		t.Errorf("bad --imap: exit %d, stderr %q; want 64", code, stderr)
	}
}

func TestJSONLogs(t *testing.T) {
	data := t.TempDir()
	d := startDaemon(t, data, "--log-format", "json")
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code = %d", code)
	}
	lines := strings.Split(strings.TrimSpace(d.stderr.String()), "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.Contains(l, `"msg":`) {
			t.Errorf("not a JSON log line: %q", l)
		}
	}
}

// scrape returns the Prometheus text at http://addr/metrics.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(body)
}

// metricValue returns the value of one series (name and labels, as the
// exposition writes them) in the daemon's /metrics at addr.
func metricValue(t *testing.T, addr, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape(t, addr))
	if m == nil {
		t.Fatalf("no %s in /metrics", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Mail delivered while the server is stopped is there when it starts, and
// a user who never logged in gets a Maildir from deliver.
func TestDeliverWhileStopped(t *testing.T) {
	data := t.TempDir()
	addTestUser(t, data, "bob", "bob-pw")
	for i := range 2 {
		if code, _, stderr := runDormouse(t, fmt.Sprintf("Subject: offline %d\n\nx\n", i), "deliver", "--data", data, "bob"); code != 0 {
			t.Fatalf("deliver: exit %d: %s", code, stderr)
		}
	}
	d := startDaemon(t, data)
	c := dialIMAP(t, d.imap, nil)
	c.MustOK("LOGIN bob bob-pw")
	lines := c.MustOK("SELECT INBOX")
	if !slices.Contains(lines, "* 2 EXISTS") {
		t.Errorf("SELECT after offline delivery:\n%s", strings.Join(lines, "\n"))
	}
	d.stop(syscall.SIGTERM)
}

// Flags override the file; what no flag sets comes from the file.
func TestFlagsOverrideConfig(t *testing.T) {
	data := t.TempDir()
	fileMetrics := freeAddr(t)
	conf := fmt.Sprintf("[listen]\nmetrics = %q\n[log]\nformat = \"json\"\n", fileMetrics)
	if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, data) // passes its own --metrics
	scrape(t, d.metric)
	if nc, err := net.Dial("tcp", fileMetrics); err == nil {
		nc.Close()
		t.Errorf("metrics also listen on the file's address %s", fileMetrics)
	}
	d.stop(syscall.SIGTERM)
	if first := strings.SplitN(d.stderr.String(), "\n", 2)[0]; !strings.HasPrefix(first, "{") {
		t.Errorf("log format from the file not used: %q", first)
	}
}
