package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseOverDefault(t *testing.T) {
	cfg, err := Parse([]byte(`
data_dir = "/var/mail/dormouse"
[listen]
imap = ""
metrics = "127.0.0.1:9100"
[auth]
plaintext = "never"
[imap]
hibernate_after = "0s"
[limits]
max_literal = 1048576
failed_login_delay = "500ms"
[log]
format = "json"
[store]
flag_sync = "delayed"
flag_sync_delay = "250ms"
inotify = false
[cluster]
secret = "0123456789abcdef-proxy"
nats = "nats://127.0.0.1:4222,nats://127.0.0.1:4223"
node = "b1"
handoff_watch_lease = "4h"
handoff_watch_max = 20000
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.DataDir = "/var/mail/dormouse"
	want.Listen.IMAP = ""
	want.Listen.Metrics = "127.0.0.1:9100"
	want.Auth.Plaintext = PlaintextNever
	want.IMAP.HibernateAfter = 0
	want.Limits.MaxLiteral = 1 << 20
	want.Limits.FailedLoginDelay = Duration(500 * time.Millisecond)
	want.Log.Format = "json"
	want.Store = Store{FlagSync: FlagSyncDelayed, FlagSyncDelay: Duration(250 * time.Millisecond)}
	want.Cluster = Cluster{Secret: "0123456789abcdef-proxy", NATS: "nats://127.0.0.1:4222,nats://127.0.0.1:4223", Node: "b1",
		HandoffWatchLease: Duration(4 * time.Hour), HandoffWatchMax: 20_000}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       string // regexp the error must match
	}{
		{"unknown key", "[listen]\nimap = \"127.0.0.1:1\"\nimapp = \"x:1\"\n", `line 3: unknown setting "listen.imapp"`},
		{"unknown top key", "\n\ndatadir = \"x\"\n", `line 3: unknown setting "datadir"`},
		{"unknown table", "[lisen]\nimap = \"x:1\"\n", `line [12]: unknown setting "lisen`},
		{"bad duration", "[imap]\n\nhibernate_after = \"soon\"\n", `line 3: imap.hibernate_after: .*soon`},
		{"negative duration", "[limits]\nlogin_timeout = \"-1s\"\n", `line 2: limits.login_timeout: .*negative`},
		{"bad policy", "[auth]\nplaintext = \"sometimes\"\n", `line 2: auth.plaintext: .*loopback, always, never`},
		{"bad format", "[log]\nformat = \"xml\"\n", `line 2: log.format`},
		{"bad level", "[log]\nlevel = \"loud\"\n", `line 2: log.level`},
		{"bad address", "[listen]\nlmtp = \"2424\"\n", `line 2: listen.lmtp: .*host:port`},
		{"wrong type", "[limits]\nmax_line = \"big\"\n", `line 2.*max_line`},
		{"syntax", "[listen\n", `line [12]`},
		{"cert without key", "[tls]\ncert = \"a.pem\"\n", `tls.cert and tls.key`},
		{"tiny max_line", "[limits]\nmax_line = 10\n", `limits.max_line`},
		{"negative preauth limit", "[limits]\nmax_preauth_per_addr = -1\n", `limits.max_preauth_per_addr = -1`},
		{"negative memory limit", "[runtime]\nmemory_limit = -1\n", `runtime.memory_limit = -1`},
		{"negative gc percent", "[runtime]\ngc_percent = -1\n", `runtime.gc_percent = -1`},
		{"negative user failures", "[limits]\nlogin_failures_per_user = -5\n", `limits.login_failures_per_user`},
		{"zero command timeout", "[limits]\ncommand_timeout = \"0s\"\n", `limits.command_timeout`},
		{"zero refill", "[limits]\nlogin_failure_refill = \"0s\"\n", `limits.login_failure_refill`},
		{"bad flag sync", "[store]\nflag_sync = \"never\"\n", `line 2: store.flag_sync: .*always, delayed`},
		{"short cluster secret", "[cluster]\nsecret = \"short\"\n", `cluster.secret: 5 bytes; must be empty \(no proxy\) or at least 16`},
		{"short handoff watch lease", "[cluster]\nhandoff_watch_lease = \"500ms\"\n", `cluster.handoff_watch_lease = 500ms: must be 0 \(limits.idle_timeout\) or 1s to 168h0m0s`},
		{"long handoff watch lease", "[cluster]\nhandoff_watch_lease = \"200h\"\n", `cluster.handoff_watch_lease = 200h0m0s: must be 0`},
		{"negative handoff watch max", "[cluster]\nhandoff_watch_max = -1\n", `cluster.handoff_watch_max = -1: must be 0 \(none held\) to 1073741824`},
		{"long flag sync delay", "[store]\nflag_sync_delay = \"1h\"\n", `store.flag_sync_delay = 1h0m0s: must be 1ms to 1m`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			if err == nil {
				t.Fatalf("Parse: no error, want %q", tt.want)
			}
			if !regexp.MustCompile(tt.want).MatchString(err.Error()) {
				t.Errorf("Parse error %q does not match %q", err, tt.want)
			}
		})
	}
}

// The commented file must hold every setting: uncommenting every "# key ="
// line must give back exactly the configuration it was written from.
func TestCommentedFileHasEverySetting(t *testing.T) {
	c := Default()
	c.DataDir = "/srv/mail"
	c.Listen.Metrics = "127.0.0.1:9101"
	var b bytes.Buffer
	if err := WriteCommented(&b, c); err != nil {
		t.Fatal(err)
	}
	commentedOnly, err := Parse(b.Bytes())
	if err != nil {
		t.Fatalf("commented file does not parse: %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(commentedOnly, Default()) {
		t.Errorf("commented file changes settings: %+v", commentedOnly)
	}
	setting := regexp.MustCompile(`^# ([a-z_]+) = `)
	var out []string
	n := 0
	for _, l := range strings.Split(b.String(), "\n") {
		if setting.MatchString(l) {
			l = strings.TrimPrefix(l, "# ")
			n++
		}
		out = append(out, l)
	}
	if n != 52 {
		t.Errorf("%d settings in the commented file, want 52", n)
	}
	got, err := Parse([]byte(strings.Join(out, "\n")))
	if err != nil {
		t.Fatalf("uncommented file: %v", err)
	}
	if len(got.Proxy.Backends) == 0 && len(c.Proxy.Backends) == 0 {
		got.Proxy.Backends = c.Proxy.Backends // "backends = []" is nil's empty list
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("uncommented file =\n%+v\nwant\n%+v", got, c)
	}
}

func TestLoadResolvesPaths(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file string
		want       Config // paths only
	}{
		{"data_dir left out is the file's folder", "[log]\nlevel = \"info\"\n",
			Config{DataDir: dir}},
		{"relative paths", "data_dir = \"mail\"\n[tls]\ncert = \"c.pem\"\nkey = \"/etc/k.pem\"\n",
			Config{DataDir: filepath.Join(dir, "mail"), TLS: TLS{Cert: filepath.Join(dir, "c.pem"), Key: "/etc/k.pem"}}},
		{"absolute data_dir", "data_dir = \"/var/mail/dormouse\"\n[auth]\npasswd_file = \"../passwd\"\n",
			Config{DataDir: "/var/mail/dormouse", Auth: Auth{PasswdFile: filepath.Join(filepath.Dir(dir), "passwd")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "dormouse.toml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DataDir != tt.want.DataDir || cfg.TLS != tt.want.TLS || cfg.Auth.PasswdFile != tt.want.Auth.PasswdFile {
				t.Errorf("Load: data_dir %q, tls %+v, passwd_file %q; want %q, %+v, %q",
					cfg.DataDir, cfg.TLS, cfg.Auth.PasswdFile, tt.want.DataDir, tt.want.TLS, tt.want.Auth.PasswdFile)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); err == nil {
		t.Error("Load of a missing file: no error")
	}
}

func TestWriteDefaultFileKeepsExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dormouse.toml")
	wrote, err := WriteDefaultFile(path, Default())
	if err != nil || !wrote {
		t.Fatalf("first WriteDefaultFile = %v, %v", wrote, err)
	}
	if err := os.WriteFile(path, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrote, err = WriteDefaultFile(path, Default())
	if err != nil || wrote {
		t.Fatalf("second WriteDefaultFile = %v, %v; want false, nil", wrote, err)
	}
	if data, _ := os.ReadFile(path); string(data) != "# mine\n" {
		t.Errorf("existing file overwritten: %q", data)
	}
}

// TestProxySection checks the [proxy] keys of `dormouse proxy`: the
// backends list and the route, and that bad values name their key.
func TestProxySection(t *testing.T) {
	cfg, err := Parse([]byte("[proxy]\nbackends = [\"127.0.0.1:1143\", \"10.0.0.2:143\"]\nroute = \"kv\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Proxy{Backends: []string{"127.0.0.1:1143", "10.0.0.2:143"}, Route: "kv"}); !reflect.DeepEqual(cfg.Proxy, want) {
		t.Errorf("Proxy = %+v, want %+v", cfg.Proxy, want)
	}
	if Default().Proxy.Route != "hash" {
		t.Errorf("default route %q, want hash", Default().Proxy.Route)
	}
	for _, tc := range []struct{ file, want string }{
		{"[proxy]\nroute = \"random\"\n", "proxy.route"},
		{"[proxy]\nbackends = [\"nohost\"]\n", "proxy.backends"},
	} {
		if _, err := Parse([]byte(tc.file)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.file, err, tc.want)
		}
	}
}
