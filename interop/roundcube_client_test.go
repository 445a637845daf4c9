package interop

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Where Debian's roundcube-core puts what a web server serves, and the
// package's configuration (defaults.inc.php and mimetypes.php are copied
// from there next to the test's own config.inc.php).
const (
	roundcubePublic    = "/var/lib/roundcube/public_html"
	roundcubePkgConfig = "/etc/roundcube"
)

// roundcube is a private Roundcube served by PHP's built-in web server,
// driven like a browser: a cookie jar, the request token it hands out, and
// its AJAX actions.
type roundcube struct {
	base   string // http://127.0.0.1:PORT/
	dir    string // config, SQLite database, logs, temp
	client *http.Client
	token  string
}

// requireRoundcube returns the path of PHP's command-line program after
// checking that Roundcube and PHP's SQLite driver are installed too; the
// test skips otherwise (or fails under REQUIRE_INTEROP=1).
func requireRoundcube(t *testing.T) (php string) {
	t.Helper()
	php = requireTool(t, "php")
	requireFile(t, filepath.Join(roundcubePublic, "index.php"),
		"apt-get install roundcube-core roundcube-sqlite3 php-cli php-sqlite3")
	if out, err := exec.Command(php, "-m").Output(); err != nil || !regexp.MustCompile(`(?m)^pdo_sqlite$`).Match(out) {
		missingClient(t, "PHP's pdo_sqlite is not loaded (apt-get install php-sqlite3): %v", err)
	}
	return php
}

// startRoundcube renders testdata/roundcube/config.inc.php for a Roundcube
// that reaches IMAP at imapAddr and serves it with php -S on 127.0.0.1
// until the test ends.
func startRoundcube(t *testing.T, php, imapAddr string) *roundcube {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"config", "logs", "temp"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := os.ReadFile(filepath.Join("testdata", "roundcube", "config.inc.php"))
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("{{DIR}}", dir, "{{IMAP}}", imapAddr)
	writeFile(t, filepath.Join(dir, "config", "config.inc.php"), r.Replace(string(tmpl)))
	for _, name := range []string{"defaults.inc.php", "mimetypes.php"} {
		b, err := os.ReadFile(filepath.Join(roundcubePkgConfig, name))
		if err != nil {
			missingClient(t, "Roundcube's packaged %s: %v", name, err)
		}
		writeFile(t, filepath.Join(dir, "config", name), string(b))
	}

	addr := freeLoopbackAddr(t)
	cmd := exec.Command(php, "-S", addr, "-t", roundcubePublic)
	cmd.Env = append(os.Environ(), "ROUNDCUBE_CONFIG_DIR="+filepath.Join(dir, "config"))
	out := &transcript{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("php -S: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	rc := &roundcube{base: "http://" + addr + "/", dir: dir}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("php -S output:\n%s\nRoundcube errors.log:\n%s", tail(out.String()), rc.errors())
		}
	})
	if err := waitListening(addr, exited, time.Minute); err != nil {
		t.Fatalf("php -S: %v\n%s", err, out.String())
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rc.client = &http.Client{
		Jar:     jar,
		Timeout: 2 * time.Minute, // a page of a cold 2,000-message folder on a busy machine
		// Redirects are pages of their own: the caller follows them.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return rc
}

// errors returns Roundcube's error log, for failure messages.
func (rc *roundcube) errors() string {
	b, err := os.ReadFile(filepath.Join(rc.dir, "logs", "errors.log"))
	if err != nil {
		return fmt.Sprintf("(none: %v)", err)
	}
	return tail(string(b))
}

// requestToken finds the request token a Roundcube page hands its scripts.
var requestToken = regexp.MustCompile(`"request_token":"([^"]+)"`)

// do sends one request (one page load) and returns the response's status,
// Location and body.
func (rc *roundcube) do(t *testing.T, method, query string, form url.Values, ajax bool) (int, string, []byte) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rc.base+query, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if ajax {
		req.Header.Set("X-Roundcube-Request", rc.token)
	}
	resp, err := rc.client.Do(req)
	if err != nil {
		t.Fatalf("Roundcube %s %s: %v", method, query, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("Roundcube %s %s: %v", method, query, err)
	}
	if m := requestToken.FindSubmatch(b); m != nil {
		rc.token = string(m[1])
	}
	return resp.StatusCode, resp.Header.Get("Location"), b
}

// loginPage loads the login form, which hands out the first token (and
// does not touch IMAP).
func (rc *roundcube) loginPage(t *testing.T) {
	t.Helper()
	if code, _, b := rc.do(t, http.MethodGet, "", nil, false); code != http.StatusOK || rc.token == "" {
		t.Fatalf("Roundcube login page: status %d, token %q\n%s", code, rc.token, tail(string(b)))
	}
}

// login posts the login form; Roundcube answers with a redirect to the
// mail view, which it returns.
func (rc *roundcube) login(t *testing.T, user, pass string) string {
	t.Helper()
	code, loc, b := rc.do(t, http.MethodPost, "?_task=login", url.Values{
		"_task": {"login"}, "_action": {"login"}, "_timezone": {"UTC"},
		"_user": {user}, "_pass": {pass}, "_token": {rc.token},
	}, false)
	if code != http.StatusFound || !strings.Contains(loc, "_task=mail") {
		t.Fatalf("Roundcube login: status %d, Location %q (want a redirect to the mail view)\n%s\nerrors.log:\n%s",
			code, loc, tail(string(b)), rc.errors())
	}
	return strings.TrimPrefix(loc, "/")
}

// page loads an HTML page (GET) and returns it.
func (rc *roundcube) page(t *testing.T, query string) string {
	t.Helper()
	code, _, b := rc.do(t, http.MethodGet, query, nil, false)
	if code != http.StatusOK {
		t.Fatalf("Roundcube %s: status %d\n%s\nerrors.log:\n%s", query, code, tail(string(b)), rc.errors())
	}
	return string(b)
}

// rcResponse is Roundcube's answer to an AJAX action: its environment and
// the script the browser would run (add_message_row, set_quota ...).
type rcResponse struct {
	Action string         `json:"action"`
	Env    map[string]any `json:"env"`
	Exec   string         `json:"exec"`
}

// ajax calls an action the way Roundcube's scripts do: GET with its
// parameters in the query (form nil) or POST, the token in a header.
func (rc *roundcube) ajax(t *testing.T, query url.Values, form url.Values) rcResponse {
	t.Helper()
	query.Set("_task", "mail")
	query.Set("_remote", "1")
	method := http.MethodGet
	if form != nil {
		method = http.MethodPost
		form.Set("_remote", "1")
	}
	code, _, b := rc.do(t, method, "?"+query.Encode(), form, true)
	var r rcResponse
	if err := json.Unmarshal(b, &r); code != http.StatusOK || err != nil {
		t.Fatalf("Roundcube %s: status %d, %v\n%s\nerrors.log:\n%s", query.Encode(), code, err, tail(string(b)), rc.errors())
	}
	return r
}

// envInt reads a number from the response's environment.
func (r rcResponse) envInt(t *testing.T, key string) int {
	t.Helper()
	f, ok := r.Env[key].(float64)
	if !ok {
		t.Fatalf("Roundcube %s: env %s = %v, not a number", r.Action, key, r.Env[key])
	}
	return int(f)
}

// calls returns the arguments of each call of the script's function
// this.NAME(...), each argument as JSON (Roundcube writes them with
// json_encode).
func (r rcResponse) calls(t *testing.T, name string) [][]json.RawMessage {
	t.Helper()
	var out [][]json.RawMessage
	prefix := "this." + name + "("
	s := r.Exec
	for {
		i := strings.Index(s, prefix)
		if i < 0 {
			return out
		}
		s = s[i+len(prefix):]
		var args []json.RawMessage
		for {
			dec := json.NewDecoder(strings.NewReader(s))
			var arg json.RawMessage
			if err := dec.Decode(&arg); err != nil {
				t.Fatalf("Roundcube %s: arguments of %s: %v in %.200q", r.Action, name, err, s)
			}
			args = append(args, arg)
			s = strings.TrimLeft(s[dec.InputOffset():], " ")
			if strings.HasPrefix(s, ",") {
				s = s[1:]
				continue
			}
			if !strings.HasPrefix(s, ")") {
				t.Fatalf("Roundcube %s: %s call not closed: %.200q", r.Action, name, s)
			}
			break
		}
		out = append(out, args)
	}
}

// rcRow is a message row of Roundcube's list: add_message_row(uid, cols,
// flags, ...).
type rcRow struct {
	UID  uint32
	Cols struct {
		Subject string `json:"subject"`
		Size    string `json:"size"`
	}
	Flags struct {
		Depth     int    `json:"depth"`
		ParentUID uint32 `json:"parent_uid"` // 0: none
	}
}

// rows returns the message rows the response adds to the list.
func (r rcResponse) rows(t *testing.T) []rcRow {
	t.Helper()
	var rows []rcRow
	for _, args := range r.calls(t, "add_message_row") {
		var row rcRow
		if len(args) < 3 || json.Unmarshal(args[0], &row.UID) != nil ||
			json.Unmarshal(args[1], &row.Cols) != nil || json.Unmarshal(args[2], &row.Flags) != nil {
			t.Fatalf("Roundcube %s: add_message_row arguments %s", r.Action, args)
		}
		rows = append(rows, row)
	}
	return rows
}

// rcQuota is what set_quota shows: usage and limit of the storage in KiB
// (RFC 9208 STORAGE units) and, per quota root, each resource.
type rcQuota struct {
	Used  int64 `json:"used"`
	Total int64 `json:"total"`
	All   map[string]map[string]struct {
		Used  int64 `json:"used"`
		Total int64 `json:"total"`
	} `json:"all"`
}

// quota returns the response's set_quota argument; ok is false without
// one.
func (r rcResponse) quota(t *testing.T) (q rcQuota, ok bool) {
	t.Helper()
	calls := r.calls(t, "set_quota")
	if len(calls) == 0 {
		return q, false
	}
	if err := json.Unmarshal(calls[len(calls)-1][0], &q); err != nil {
		t.Fatalf("Roundcube %s: set_quota%s: %v", r.Action, calls[len(calls)-1][0], err)
	}
	return q, true
}
