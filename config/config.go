// Package config reads Dormouse's TOML configuration file.
//
// Every setting has a default (see Default), so a file needs only the
// settings it changes. A key the program does not know, or a value of the
// wrong type or out of range, is an error that names the key and its line:
// a typo must not silently leave a default in place.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/dormouse/dormouse/mailstore"
)

// Config is the whole configuration. Paths that are relative are relative
// to the folder of the file they were read from (see Load).
type Config struct {
	// DataDir holds the mail, the indexes, the passwd-file and the TLS files.
	// Its default, ".", is the folder of the configuration file: the file
	// written on first start lives in the data folder, so a file that leaves
	// data_dir out names the folder it is in, wherever the server is started.
	DataDir string  `toml:"data_dir"`
	Listen  Listen  `toml:"listen"`
	TLS     TLS     `toml:"tls"`
	Auth    Auth    `toml:"auth"`
	IMAP    IMAP    `toml:"imap"`
	Limits  Limits  `toml:"limits"`
	Log     Log     `toml:"log"`
	LMTP    LMTP    `toml:"lmtp"`
	Quota   Quota   `toml:"quota"`
	Store   Store   `toml:"store"`
	Runtime Runtime `toml:"runtime"`
	Proxy   Proxy   `toml:"proxy"`
	Cluster Cluster `toml:"cluster"`
}

// Cluster holds how a server takes part in a service of several: the
// secret a proxy presents to a backend (docs/design.md, "The proxy hop"),
// and where a backend publishes its change notices (docs/design.md,
// "Change notices"). `dormouse proxy` reads secret and nats too.
type Cluster struct {
	// Secret is the shared secret a proxy presents in XPROXY and
	// XRESUME; "" (the default) lets no proxy connect, and those commands
	// are then unknown.
	Secret string `toml:"secret"`
	// NATS lists the NATS servers' URLs, comma-separated, to which the
	// server publishes a change notice for every change of a mailbox
	// (package notice); "embedded:HOST:PORT" runs a NATS server inside
	// the process, listening there, for a single node; "" publishes none.
	NATS string `toml:"nats"`
	// Node names this backend in its notices; "" is its IMAP listen
	// address.
	Node string `toml:"node"`
	// HandoffWatchLease is how long a backend keeps a mailbox's folders
	// watched after a session of it last handed off to its proxy, so that
	// other programs' writes there still become notices; 0 is
	// limits.idle_timeout (imapserver.Config.HandoffWatchLease).
	HandoffWatchLease Duration `toml:"handoff_watch_lease"`
	// HandoffWatchMax bounds the mailboxes a backend keeps watched for
	// sessions handed off to their proxy (three inotify watches each); a
	// handoff beyond it holds none, and its mailbox's writes by other
	// programs wait for its next opening. 0 holds none
	// (imapserver.Config.HandoffWatchMax).
	HandoffWatchMax int64 `toml:"handoff_watch_max"`
}

// MaxHandoffWatchLease is the longest cluster.handoff_watch_lease.
const MaxHandoffWatchLease = 7 * 24 * time.Hour

// MinClusterSecret is the shortest [cluster] secret accepted: whoever
// knows it logs in as any user.
const MinClusterSecret = 16

// Store holds how the mail store makes changes durable.
type Store struct {
	// FlagSync says when flag changes and expunges reach the disk:
	// "always" before their OK (each user's concurrent changes share one
	// commit), "delayed" within FlagSyncDelay after it (Dovecot's
	// mail_fsync = optimized trade: a process crash loses none of them; a
	// power loss or kernel crash within the delay makes the user's index
	// be rebuilt from the Maildir, with new UIDVALIDITY values and without
	// keywords). An appended or delivered message is always durable
	// before its OK (its file and folder fsynced); under "delayed" the
	// index records its UID within FlagSyncDelay too, and a rebuild after
	// a power loss gives it a new one.
	FlagSync FlagSync `toml:"flag_sync"`
	// FlagSyncDelay bounds how long a delayed flag change stays unsynced.
	FlagSyncDelay Duration `toml:"flag_sync_delay"`
	// Inotify watches mailbox folders for changes other programs make
	// (inotify; fsnotify off Linux). Off, such changes are found when a
	// mailbox is opened and through the hints local writers send on
	// DATA/notice.sock (`dormouse deliver` does; `dormouse notice` for
	// others): for Maildirs on network filesystems.
	Inotify bool `toml:"inotify"`
}

// StoreFlagSyncDelay is the delay the mail store is to use: 0 when flag
// changes are synced before their OK.
func (s Store) StoreFlagSyncDelay() time.Duration {
	if s.FlagSync != FlagSyncDelayed {
		return 0
	}
	return s.FlagSyncDelay.Std()
}

// Quota holds the quota limits (RFC 9208 QUOTA, enforced on APPEND, COPY
// and delivery).
type Quota struct {
	// Rule is every user's limit in Dovecot's quota_rule form, such as
	// "*:storage=1G *:messages=100000"; "" means none. A user's
	// userdb_quota_rule extra field in the passwd-file replaces it, and
	// limits set with SETQUOTA replace both.
	Rule string `toml:"rule"`
	// Admins names, separated by spaces, the users who may set quota
	// limits with SETQUOTA.
	Admins string `toml:"admins"`
}

// Runtime holds settings of the Go runtime the server runs on.
type Runtime struct {
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (debug.SetMemoryLimit, as GOMEMLIMIT): near it the runtime collects
	// sooner and returns freed memory to the OS, so the heap that sessions
	// left when they hibernated does not stay resident until the next
	// forced collection. 0 leaves the runtime's own (GOMEMLIMIT, or none).
	MemoryLimit int64 `toml:"memory_limit"`
	// GCPercent is the Go runtime's GOGC (debug.SetGCPercent): a
	// collection starts once the heap has grown this many percent over
	// what the last one left live. Lower keeps less garbage resident for
	// more CPU: at 50, a running fleet (bench/fleet) kept ~3 % less
	// anonymous memory and a burst of full wakes cost 23 % more CPU per
	// wake (docs/benchmarks.md, "A fleet of mixed clients"), so it is
	// not lowered by default. 0 leaves the runtime's own (GOGC, or 100).
	GCPercent int `toml:"gc_percent"`
	// MemoryFollow keeps the runtime's soft memory limit a little above
	// what the server holds after each collection (read once its sweep
	// is over), lifted while collections come fast (a burst of wakes),
	// so that a server that keeps serving while its sessions sleep does
	// not carry the collector's default headroom (internal/memreturn's
	// Follower); a busy server whose small heap allocates fast gets room
	// by its allocation rate instead (GOGC raised while it lasts), so
	// that it does not collect tens of times a second. It does nothing
	// where memory_limit or GOMEMLIMIT sets a limit. On by default
	// (docs/benchmarks.md, "A fleet of mixed clients", for what it cuts
	// on bench/fleet and costs per wake).
	MemoryFollow bool `toml:"memory_follow"`
}

// Proxy configures `dormouse proxy` (docs/cluster.md); serve ignores it.
type Proxy struct {
	// Backends are the backend IMAP addresses ("127.0.0.1:1143", plain
	// TCP) users are spread over.
	Backends []string `toml:"backends"`
	// Route is how a user's backend is found: "hash" (rendezvous hashing
	// of the user name over Backends) or "kv" (the user→backend map in
	// NATS JetStream KV, the hash as its fallback).
	Route string `toml:"route"`
}

// LMTP holds how LMTP (and `dormouse deliver`) reads recipient addresses.
type LMTP struct {
	// RecipientDelimiter holds the characters that separate a local part
	// from its detail: alice+Spam@example.org reaches alice (Dovecot's
	// recipient_delimiter); "" turns details off.
	RecipientDelimiter string `toml:"recipient_delimiter"`
	// SaveToDetailMailbox delivers alice+Spam into alice's mailbox Spam
	// when it exists, INBOX otherwise (Dovecot's
	// lmtp_save_to_detail_mailbox).
	SaveToDetailMailbox bool `toml:"save_to_detail_mailbox"`
}

// Listen holds listen addresses; "" turns a listener off.
type Listen struct {
	IMAP    Addr `toml:"imap"`
	IMAPS   Addr `toml:"imaps"`
	LMTP    Addr `toml:"lmtp"`
	Metrics Addr `toml:"metrics"`
}

// TLS names the certificate and key files (PEM). When both are empty the
// server makes its own CA and certificate in the data folder.
type TLS struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Auth holds authentication settings.
type Auth struct {
	// Plaintext says where LOGIN and AUTHENTICATE PLAIN work without TLS.
	Plaintext Plaintext `toml:"plaintext"`
	// PasswdFile is the Dovecot-style passwd-file ("" = DataDir/passwd).
	PasswdFile string `toml:"passwd_file"`
	// CacheTTL is how long a correct password is remembered (0 = never),
	// so that repeated logins skip the slow hash; CacheSize bounds the
	// users remembered at once.
	CacheTTL  Duration `toml:"cache_ttl"`
	CacheSize int64    `toml:"cache_size"`
}

// IMAP holds IMAP session settings.
type IMAP struct {
	// HibernateAfter is how long a client idles (in IDLE, or logged in
	// between commands) before its connection is hibernated; 0 turns
	// hibernation off.
	HibernateAfter Duration `toml:"hibernate_after"`
	// IdleKeepalive is the interval of "* OK Still here" during IDLE.
	IdleKeepalive Duration `toml:"idle_keepalive"`
	// ServerNames names, separated by spaces, the host names by which
	// IMAP URLs (CATENATE, URLAUTH) name this server, beside the address
	// a connection came in on.
	ServerNames string `toml:"server_names"`
	// URLAuthSubmitters names, separated by spaces, the users that act as
	// a submission server (BURL) and may fetch URLAUTH URLs authorized
	// for "submit+USER".
	URLAuthSubmitters string `toml:"urlauth_submitters"`
}

// Limits bound what one connection may use.
type Limits struct {
	MaxLine          int64    `toml:"max_line"`
	MaxLiteral       int64    `toml:"max_literal"`
	LoginTimeout     Duration `toml:"login_timeout"`
	IdleTimeout      Duration `toml:"idle_timeout"`
	FailedLoginDelay Duration `toml:"failed_login_delay"`
	// CommandTimeout bounds reading one command with its literals.
	CommandTimeout Duration `toml:"command_timeout"`
	// TLSHandshakeTimeout bounds a TLS handshake (IMAPS or STARTTLS).
	TLSHandshakeTimeout Duration `toml:"tls_handshake_timeout"`
	// MaxPreAuthPerAddr bounds unauthenticated connections per client
	// address (0 = no limit).
	MaxPreAuthPerAddr int64 `toml:"max_preauth_per_addr"`
	// LoginFailuresPerAddr and LoginFailuresPerUser are the recent failed
	// logins of an address, and of a user name at an address, before login
	// attempts under them wait (0 = never); one is forgiven every
	// LoginFailureRefill. The wait doubles up to LoginPenaltyMax.
	LoginFailuresPerAddr int64    `toml:"login_failures_per_addr"`
	LoginFailuresPerUser int64    `toml:"login_failures_per_user"`
	LoginFailureRefill   Duration `toml:"login_failure_refill"`
	LoginPenaltyMax      Duration `toml:"login_penalty_max"`

	// Per-user limits (0 = no limit): logged-in connections of a user and
	// of a user from one address, and mailboxes of a user.
	MaxConnectionsPerUser     int64 `toml:"max_connections_per_user"`
	MaxConnectionsPerUserAddr int64 `toml:"max_connections_per_user_addr"`
	MaxMailboxesPerUser       int64 `toml:"max_mailboxes_per_user"`

	// METADATA (RFC 5464) limits of one user (0 = no limit): bytes of one
	// value, entries, bytes of all values.
	MaxMetadataEntrySize int64 `toml:"max_metadata_entry_size"`
	MaxMetadataEntries   int64 `toml:"max_metadata_entries"`
	MaxMetadataSize      int64 `toml:"max_metadata_size"`
}

// Log holds logging settings.
type Log struct {
	Format LogFormat `toml:"format"`
	Level  LogLevel  `toml:"level"`
}

// Default returns the settings a file leaves out. Its DataDir, ".", is
// relative to the file's folder like every path in a file (see Load); with
// no file at all the caller names the data folder.
func Default() Config {
	return Config{
		DataDir: ".",
		Listen: Listen{
			IMAP:  "127.0.0.1:1143",
			IMAPS: "127.0.0.1:1993",
			LMTP:  "127.0.0.1:2424",
		},
		Auth: Auth{
			Plaintext: PlaintextLoopback,
			CacheTTL:  Duration(time.Hour), // Dovecot's auth_cache_ttl
			CacheSize: 100_000,
		},
		IMAP: IMAP{
			HibernateAfter: Duration(30 * time.Second),
			IdleKeepalive:  Duration(2 * time.Minute),
			ServerNames:    "localhost",
		},
		Limits: Limits{
			MaxLine:          64 << 10,
			MaxLiteral:       64 << 20,
			LoginTimeout:     Duration(60 * time.Second),
			IdleTimeout:      Duration(30 * time.Minute), // RFC 9051 5.4: at least 30 minutes
			FailedLoginDelay: Duration(2 * time.Second),

			CommandTimeout:       Duration(10 * time.Minute),
			TLSHandshakeTimeout:  Duration(15 * time.Second),
			MaxPreAuthPerAddr:    256,
			LoginFailuresPerAddr: 10,
			LoginFailuresPerUser: 3,
			LoginFailureRefill:   Duration(time.Minute),
			LoginPenaltyMax:      Duration(15 * time.Second),

			MaxConnectionsPerUser:     200,
			MaxConnectionsPerUserAddr: 50,
			MaxMailboxesPerUser:       10_000,

			MaxMetadataEntrySize: 64 << 10,
			MaxMetadataEntries:   1000,
			MaxMetadataSize:      1 << 20,
		},
		Log:     Log{Format: "text", Level: "info"},
		LMTP:    LMTP{RecipientDelimiter: "+"},
		Store:   Store{FlagSync: FlagSyncAlways, FlagSyncDelay: Duration(time.Second), Inotify: true},
		Proxy:   Proxy{Route: "hash"},
		Cluster: Cluster{HandoffWatchMax: 10_000},
		Runtime: Runtime{MemoryFollow: true},
	}
}

// Load reads the file at path over Default. Relative paths in it (data_dir,
// tls.cert, tls.key, auth.passwd_file) are made relative to the file's
// folder, so that a data folder can be moved as a whole.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for _, p := range []*string{&cfg.DataDir, &cfg.TLS.Cert, &cfg.TLS.Key, &cfg.Auth.PasswdFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	return cfg, nil
}

// Parse decodes TOML data over Default and checks it. Paths are left as
// written.
func Parse(data []byte) (Config, error) {
	cfg := Default()
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			if pe.LastKey != "" {
				return Config{}, fmt.Errorf("line %d: %s: %s", pe.Position.Line, pe.LastKey, pe.Message)
			}
			return Config{}, fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return Config{}, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0].String()
		return Config{}, fmt.Errorf("line %d: unknown setting %q", findLine(data, und[0]), k)
	}
	if err := cfg.check(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// check verifies relations between settings that no single value shows.
func (c Config) check() error {
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("tls.cert and tls.key must be set together")
	}
	if c.Limits.MaxLine < 1024 {
		return fmt.Errorf("limits.max_line = %d: must be at least 1024", c.Limits.MaxLine)
	}
	if c.Limits.MaxLiteral < 1 {
		return fmt.Errorf("limits.max_literal = %d: must be positive", c.Limits.MaxLiteral)
	}
	for _, v := range []struct {
		key string
		n   int64
	}{
		{"auth.cache_size", c.Auth.CacheSize},
		{"limits.max_preauth_per_addr", c.Limits.MaxPreAuthPerAddr},
		{"limits.login_failures_per_addr", c.Limits.LoginFailuresPerAddr},
		{"limits.login_failures_per_user", c.Limits.LoginFailuresPerUser},
		{"limits.max_connections_per_user", c.Limits.MaxConnectionsPerUser},
		{"limits.max_connections_per_user_addr", c.Limits.MaxConnectionsPerUserAddr},
		{"limits.max_mailboxes_per_user", c.Limits.MaxMailboxesPerUser},
		{"limits.max_metadata_entry_size", c.Limits.MaxMetadataEntrySize},
		{"limits.max_metadata_entries", c.Limits.MaxMetadataEntries},
		{"limits.max_metadata_size", c.Limits.MaxMetadataSize},
	} {
		if v.n < 0 || v.n > 1<<30 {
			return fmt.Errorf("%s = %d: must be 0 (no limit) to %d", v.key, v.n, 1<<30)
		}
	}
	if c.Limits.CommandTimeout < Duration(time.Second) {
		return fmt.Errorf("limits.command_timeout = %s: must be at least 1s", c.Limits.CommandTimeout)
	}
	if c.Limits.TLSHandshakeTimeout < Duration(time.Second) {
		return fmt.Errorf("limits.tls_handshake_timeout = %s: must be at least 1s", c.Limits.TLSHandshakeTimeout)
	}
	if c.Limits.LoginFailureRefill < Duration(time.Second) {
		return fmt.Errorf("limits.login_failure_refill = %s: must be at least 1s", c.Limits.LoginFailureRefill)
	}
	if c.Store.FlagSyncDelay < Duration(time.Millisecond) || c.Store.FlagSyncDelay > Duration(time.Minute) {
		return fmt.Errorf("store.flag_sync_delay = %s: must be 1ms to 1m", c.Store.FlagSyncDelay)
	}
	if c.Runtime.MemoryLimit < 0 {
		return fmt.Errorf("runtime.memory_limit = %d: must be 0 (the runtime's own) or a size in bytes", c.Runtime.MemoryLimit)
	}
	if c.Runtime.GCPercent < 0 {
		return fmt.Errorf("runtime.gc_percent = %d: must be 0 (the runtime's own) or a percentage", c.Runtime.GCPercent)
	}
	switch c.Proxy.Route {
	case "hash", "kv":
	default:
		return fmt.Errorf("proxy.route = %q: must be \"hash\" or \"kv\"", c.Proxy.Route)
	}
	for _, b := range c.Proxy.Backends {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("proxy.backends: %q: %w", b, err)
		}
	}
	if l := c.Cluster.HandoffWatchLease; l != 0 && (l < Duration(time.Second) || l > Duration(MaxHandoffWatchLease)) {
		return fmt.Errorf("cluster.handoff_watch_lease = %s: must be 0 (limits.idle_timeout) or 1s to %s", l, Duration(MaxHandoffWatchLease))
	}
	if n := c.Cluster.HandoffWatchMax; n < 0 || n > 1<<30 {
		return fmt.Errorf("cluster.handoff_watch_max = %d: must be 0 (none held) to %d", n, 1<<30)
	}
	if c.Cluster.Secret != "" && len(c.Cluster.Secret) < MinClusterSecret {
		return fmt.Errorf("cluster.secret: %d bytes; must be empty (no proxy) or at least %d", len(c.Cluster.Secret), MinClusterSecret)
	}
	if c.DataDir == "" {
		return errors.New("data_dir must not be empty")
	}
	if _, err := mailstore.ParseQuotaRules(c.Quota.Rule, mailstore.QuotaLimits{}); err != nil {
		return fmt.Errorf("quota.rule: %w", err)
	}
	return nil
}

// findLine returns the 1-based line where key is set in data, or 0. It
// knows enough TOML for this file's shape: [table] headers and key = value,
// which is what a hand-edited config holds; MetaData does not expose the
// positions of keys it did not decode.
func findLine(data []byte, key toml.Key) int {
	if len(key) == 0 {
		return 0
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	table := ""
	want := strings.Join(key[:len(key)-1], ".")
	last := key[len(key)-1]
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "[") {
			name := strings.Trim(l, "[] \t")
			if i := strings.IndexByte(name, '#'); i >= 0 {
				name = strings.TrimSpace(strings.Trim(name[:i], "[] \t"))
			}
			table = name
			if strings.Join(key, ".") == table {
				return n // an unknown table
			}
			continue
		}
		k, _, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		k = strings.Trim(strings.TrimSpace(k), `"'`)
		full := k
		if table != "" {
			full = table + "." + k
		}
		if full == strings.Join(key, ".") || (table == want && k == last) {
			return n
		}
	}
	return 0
}

// Addr is a host:port listen address, or "" for off.
type Addr string

// UnmarshalText checks the host:port form.
func (a *Addr) UnmarshalText(b []byte) error {
	s := string(b)
	if s != "" {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return fmt.Errorf("listen address %q: want host:port, or \"\" for off", s)
		}
	}
	*a = Addr(s)
	return nil
}

// Duration is a time.Duration written as "30s", "2m" or "1h30m".
type Duration time.Duration

// UnmarshalText parses a Go duration; negative durations are refused.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: want a number with a unit, such as 30s, 5m or 1h", b)
	}
	if v < 0 {
		return fmt.Errorf("duration %q: must not be negative", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration in Go's form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String returns the duration in Go's form, e.g. "1m30s".
func (d Duration) String() string { return time.Duration(d).String() }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Plaintext is the plaintext-authentication policy.
type Plaintext string

// The plaintext-authentication policies.
const (
	PlaintextLoopback Plaintext = "loopback" // allowed from loopback addresses only
	PlaintextAlways   Plaintext = "always"
	PlaintextNever    Plaintext = "never"
)

// UnmarshalText accepts loopback, always or never.
func (p *Plaintext) UnmarshalText(b []byte) error {
	return oneOf((*string)(p), string(b), "loopback", "always", "never")
}

// FlagSync is when flag changes reach the disk: always or delayed.
type FlagSync string

// The values of FlagSync.
const (
	FlagSyncAlways  FlagSync = "always"
	FlagSyncDelayed FlagSync = "delayed"
)

// UnmarshalText accepts always or delayed.
func (f *FlagSync) UnmarshalText(b []byte) error {
	return oneOf((*string)(f), string(b), string(FlagSyncAlways), string(FlagSyncDelayed))
}

// LogFormat is text or json.
type LogFormat string

// UnmarshalText accepts text or json.
func (f *LogFormat) UnmarshalText(b []byte) error {
	return oneOf((*string)(f), string(b), "text", "json")
}

// LogLevel is debug, info, warn or error.
type LogLevel string

// UnmarshalText accepts debug, info, warn or error.
func (l *LogLevel) UnmarshalText(b []byte) error {
	return oneOf((*string)(l), string(b), "debug", "info", "warn", "error")
}

func oneOf(dst *string, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			*dst = v
			return nil
		}
	}
	return fmt.Errorf("%q: want one of %s", v, strings.Join(allowed, ", "))
}
