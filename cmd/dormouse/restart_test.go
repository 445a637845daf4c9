package main

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/dormouse/dormouse/config"
	"github.com/dormouse/dormouse/internal/imaptest"
)

// restartCase is a series of `dormouse serve` starts, each with its own
// flags, that must all use one data folder.
type restartCase struct {
	name  string
	files map[string]string // written below the working directory first
	runs  [][]string        // serve flags of each start
	data  string            // the data folder every start must use
}

// The README's command run twice, and the ways of naming a data folder
// (--data, --config inside or outside it, relative or absolute, data_dir
// set in the file or not), each started several times: every start serves
// the same demo user, with the first start's password, and the mail every
// earlier start received. In each case "$ROOT" stands for the working
// directory, where all paths start.
func TestRestartKeepsData(t *testing.T) {
	noDataDir := "[log]\nlevel = \"info\"\n"
	tests := []restartCase{
		{name: "no data flags, then --data and --config naming the same folder",
			runs: [][]string{{}, {}, {"--data", "dormouse-data"}, {"--config", "dormouse-data/dormouse.toml"},
				{"--config", "$ROOT/dormouse-data/dormouse.toml"}},
			data: "dormouse-data"},
		{name: "--data relative",
			runs: [][]string{{"--data", "mail"}, {"--data", "mail"}},
			data: "mail"},
		{name: "--data absolute, then --config inside it",
			runs: [][]string{{"--data", "$ROOT/mail"}, {"--data", "$ROOT/mail"},
				{"--config", "$ROOT/mail/dormouse.toml"}, {"--config", "mail/dormouse.toml"}},
			data: "mail"},
		{name: "config inside the data folder written by hand, without data_dir",
			files: map[string]string{"var/mail/dormouse.toml": noDataDir},
			runs: [][]string{{"--config", "var/mail/dormouse.toml"}, {"--config", "$ROOT/var/mail/dormouse.toml"},
				{"--data", "var/mail"}},
			data: "var/mail"},
		{name: "config outside, data_dir relative to it",
			files: map[string]string{"etc/dormouse.toml": "data_dir = \"../var/mail\"\n"},
			runs: [][]string{{"--config", "etc/dormouse.toml"}, {"--config", "$ROOT/etc/dormouse.toml"},
				{"--data", "var/mail"}},
			data: "var/mail"},
		{name: "config outside, data_dir absolute",
			files: map[string]string{"etc/dormouse.toml": "data_dir = \"$ROOT/var/mail\"\n"},
			runs:  [][]string{{"--config", "$ROOT/etc/dormouse.toml"}, {"--config", "etc/dormouse.toml"}},
			data:  "var/mail"},
		{name: "config outside without data_dir, --data given",
			files: map[string]string{"etc/dormouse.toml": noDataDir},
			runs: [][]string{{"--config", "etc/dormouse.toml", "--data", "var/mail"},
				{"--config", "$ROOT/etc/dormouse.toml", "--data", "$ROOT/var/mail"}},
			data: "var/mail"},
		{name: "config outside without data_dir nor --data: its own folder",
			files: map[string]string{"etc/dormouse.toml": noDataDir},
			runs:  [][]string{{"--config", "etc/dormouse.toml"}, {"--config", "$ROOT/etc/dormouse.toml"}},
			data:  "etc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				writeFile(t, filepath.Join(root, name), strings.ReplaceAll(content, "$ROOT", root))
			}
			runs := make([]serveRun, len(tc.runs))
			for i, args := range tc.runs {
				runs[i] = serveRun{dir: root}
				for _, a := range args {
					runs[i].args = append(runs[i].args, strings.ReplaceAll(a, "$ROOT", root))
				}
			}
			checkRestarts(t, root, tc.data, runs)
		})
	}
}

// The README's first command, exactly: `dormouse serve` with no flags in
// an empty folder, on the default ports, twice.
func TestReadmeServeTwice(t *testing.T) {
	def := config.Default().Listen
	for _, addr := range []config.Addr{def.IMAP, def.IMAPS, def.LMTP} {
		ln, err := net.Listen("tcp", string(addr))
		if err != nil {
			t.Skipf("default port %s is in use: %v", addr, err)
		}
		ln.Close()
	}
	root := t.TempDir()
	run := serveRun{dir: root, defaultPorts: true}
	checkRestarts(t, root, "dormouse-data", []serveRun{run, run})
}

// checkRestarts starts the daemon once per run in turn and checks that
// only the first start creates the demo user, that every start logs it in
// with the first start's password and finds the messages delivered (by
// LMTP) during the starts before, and that everything lives in data (below
// root), nothing elsewhere.
func checkRestarts(t *testing.T, root, data string, runs []serveRun) {
	t.Helper()
	var password string
	for i, r := range runs {
		d := startServe(t, r)
		if i == 0 {
			password = d.demoPassword(t)
		}
		c := dialIMAP(t, d.imap, nil)
		if _, status := c.Do("LOGIN demo " + imaptest.Quote(password)); !strings.HasPrefix(status, "OK") {
			t.Fatalf("start %d (%v): LOGIN with the first start's password: %s", i+1, r.args, status)
		}
		var want []string
		for j := range i {
			want = append(want, fmt.Sprintf("start %d", j+1))
		}
		if got := inboxSubjects(t, c); !slices.Equal(got, want) {
			t.Errorf("start %d (%v): INBOX holds %q, want %q", i+1, r.args, got, want)
		}
		c.MustOK("LOGOUT")
		lmtpSend(t, d.lmtp, "demo@example.org", fmt.Sprintf("Subject: start %d\r\n\r\nhello\r\n", i+1))
		if code := d.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("start %d: exit code after SIGTERM = %d", i+1, code)
		}
		// All of stdout is in once the daemon has exited.
		if i > 0 && strings.Contains(d.stdout.String(), "Created user") {
			t.Errorf("start %d (%v) created a new demo user: %q", i+1, r.args, d.stdout.String())
		}
	}
	// One data folder: one passwd-file, one certificate, one user folder.
	var found []string
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n := e.Name(); n == "passwd" || n == "server.crt" || (n == "demo" && filepath.Base(filepath.Dir(path)) == "users") {
			rel, _ := filepath.Rel(root, path)
			found = append(found, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(data, "passwd"), filepath.Join(data, "tls", "server.crt"), filepath.Join(data, "users", "demo")}
	slices.Sort(found)
	slices.Sort(want)
	if !slices.Equal(found, want) {
		t.Errorf("data files at %q, want %q", found, want)
	}
}

// inboxSubjects selects INBOX and returns its messages' subjects in order.
func inboxSubjects(t *testing.T, c *imaptest.Client) []string {
	t.Helper()
	exists := -1
	for _, l := range c.MustOK("SELECT INBOX") {
		if m := regexp.MustCompile(`^\* (\d+) EXISTS$`).FindStringSubmatch(l); m != nil {
			exists, _ = strconv.Atoi(m[1])
		}
	}
	if exists < 0 {
		t.Fatal("SELECT INBOX: no EXISTS")
	}
	if exists == 0 {
		return nil
	}
	var subjects []string
	for _, l := range c.MustOK("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])") {
		for _, field := range strings.Split(l, "\r\n") { // the header literal's lines
			if s, ok := strings.CutPrefix(field, "Subject: "); ok {
				subjects = append(subjects, s)
			}
		}
	}
	return subjects
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
