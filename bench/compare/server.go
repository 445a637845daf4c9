package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// server is one of the two servers under test, in one configuration.
type server interface {
	// Name is "dovecot" or "dormouse".
	Name() string
	// Start starts the server with hibernation on or off and waits for
	// its greeting.
	Start(ctx context.Context, hibernate bool) error
	// Stop stops it and everything it forked.
	Stop() error
	// PID is the root of the server's process tree while it runs.
	PID() int
	// Addr is its plain IMAP address.
	Addr() string
	// MaildirFmt is a user's INBOX Maildir, %s = user name.
	MaildirFmt() string
	// MetricsURL is its Prometheus endpoint, "" if it has none.
	MetricsURL() string
}

// hibernateAfter is the idle time before a connection hibernates, the same
// for both servers when hibernation is on.
const hibernateAfter = "2s"

// dormouseBenchConf is Dormouse's dormouse.toml for the bench. Every
// client connects from 127.0.0.1, thousands of them at once, so the
// per-address guards against abuse (256 unauthenticated connections per
// address, failed-login throttles) are off; Dovecot's counterparts are
// raised in dovecot.conf.in for the same reason. Listen addresses and
// hibernate_after come from the command line.
const dormouseBenchConf = `# Written by bench/compare: one client address opens every connection.
[limits]
max_preauth_per_addr = 0
login_failures_per_addr = 0
login_failures_per_user = 0
max_connections_per_user = 0
max_connections_per_user_addr = 0
`

// dormouseStoreConf is the [store] table setting flag_sync ("" when the
// bench keeps Dormouse's default).
func dormouseStoreConf(flagSync string) string {
	if flagSync == "" {
		return ""
	}
	return fmt.Sprintf("\n[store]\nflag_sync = %q\n", flagSync)
}

//go:embed dovecot.conf.in
var dovecotConfTemplate string

// dovecot runs `dovecot -F` from a rendered copy of dovecot.conf.in.
type dovecot struct {
	base     string // BASE: config, run/, state/, users/, passwd, log
	port     int
	mailUser string
	extra    []string // settings added after the template's (-dovecot-set)
	serverProcess
}

func (d *dovecot) Name() string       { return "dovecot" }
func (d *dovecot) Addr() string       { return fmt.Sprintf("127.0.0.1:%d", d.port) }
func (d *dovecot) MetricsURL() string { return "" }
func (d *dovecot) MaildirFmt() string { return filepath.Join(d.base, "users", "%s", "Maildir") }
func (d *dovecot) conf() string       { return filepath.Join(d.base, "dovecot.conf") }

// renderDovecotConf fills in the template and appends the extra
// settings, which override the template's (the last one wins).
func renderDovecotConf(base string, port int, mailUser, hib string, extra []string) string {
	conf := strings.NewReplacer("@BASE@", base, "@PORT@", strconv.Itoa(port),
		"@MAILUSER@", mailUser, "@HIBERNATE@", hib).Replace(dovecotConfTemplate)
	if len(extra) > 0 {
		conf += "\n# From bench/compare -dovecot-set:\n" + strings.Join(extra, "\n") + "\n"
	}
	return conf
}

func (d *dovecot) Start(ctx context.Context, hibernate bool) error {
	hib := "0"
	if hibernate {
		hib = hibernateAfter
	}
	for _, sub := range []string{"run", "state"} {
		if err := os.RemoveAll(filepath.Join(d.base, sub)); err != nil {
			return fmt.Errorf("dovecot: %w", err)
		}
		if err := os.MkdirAll(filepath.Join(d.base, sub), 0o755); err != nil {
			return fmt.Errorf("dovecot: %w", err)
		}
	}
	if err := os.WriteFile(d.conf(), []byte(renderDovecotConf(d.base, d.port, d.mailUser, hib, d.extra)), 0o644); err != nil {
		return fmt.Errorf("dovecot: %w", err)
	}
	cmd := exec.CommandContext(context.WithoutCancel(ctx), "dovecot", "-F", "-c", d.conf())
	return d.launch(ctx, "dovecot", cmd, d.Addr(), dovecotGrace)
}

// dovecotGrace: SIGTERM to the master stops its children (up to
// shutdown_clients), which takes a while with thousands of them.
const dovecotGrace = 60 * time.Second

func (d *dovecot) Stop() error { return d.halt(dovecotGrace) }

// dormouse runs `dormouse serve` on its own data folder.
type dormouse struct {
	bin         string
	data        string // DATA: passwd, users/, dormouse.toml, tls/
	port        int
	metricsPort int
	logFile     string
	serverProcess
}

func (d *dormouse) Name() string       { return "dormouse" }
func (d *dormouse) Addr() string       { return fmt.Sprintf("127.0.0.1:%d", d.port) }
func (d *dormouse) MaildirFmt() string { return filepath.Join(d.data, "users", "%s", "Maildir") }
func (d *dormouse) MetricsURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", d.metricsPort)
}

func (d *dormouse) Start(ctx context.Context, hibernate bool) error {
	hib := "0"
	if hibernate {
		hib = hibernateAfter
	}
	logf, err := os.OpenFile(d.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("dormouse: %w", err)
	}
	defer logf.Close() // the child keeps its own copy
	cmd := exec.Command(d.bin, "serve", "--data", d.data,
		"--imap", d.Addr(), "--imaps", "", "--lmtp", "",
		"--metrics", fmt.Sprintf("127.0.0.1:%d", d.metricsPort),
		"--hibernate-after", hib, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = logf, logf
	return d.launch(ctx, "dormouse", cmd, d.Addr(), dormouseGrace)
}

// dormouseGrace bounds a clean shutdown (BYE to every client).
const dormouseGrace = 45 * time.Second

func (d *dormouse) Stop() error { return d.halt(dormouseGrace) }

// errorsJoinStop reports a failed start together with the stop after it.
func errorsJoinStop(startErr, stopErr error) error {
	if stopErr != nil {
		return fmt.Errorf("%w (and stopping: %v)", startErr, stopErr)
	}
	return startErr
}

// chownTree gives a folder tree to a system user (Dovecot's mail user).
func chownTree(root, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("mail user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
