package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/template"
)

// commented is the file written on first start: every setting, commented
// out, with its value and what it does, so an operator can see what there
// is to change without reading the code.
var commented = template.Must(template.New("config").Funcs(template.FuncMap{"q": quote}).Parse(
	`# Dormouse configuration (TOML).
#
# Every setting is shown with its default value and commented out; remove the
# leading "# " to change one. Relative paths are relative to this file's
# folder. Command-line flags (--imap, --imaps, --lmtp, --metrics,
# --hibernate-after, --log-format, --data) override what is set here.
# An unknown key or a bad value stops the server with the key and line.

# Folder holding mail, indexes, the passwd-file and the generated TLS files;
# "." is the folder this file is in. --data overrides it.
# data_dir = {{q .DataDir}}

[listen]
# Listen addresses as host:port; "" turns a listener off.
# IMAP with STARTTLS:
# imap = {{q .Listen.IMAP}}
# IMAP over implicit TLS:
# imaps = {{q .Listen.IMAPS}}
# LMTP, for delivery from an MTA such as Postfix (lmtp:inet:127.0.0.1:2424):
# lmtp = {{q .Listen.LMTP}}
# Prometheus metrics over HTTP at /metrics:
# metrics = {{q .Listen.Metrics}}

[tls]
# Certificate chain and private key, PEM. Both empty: use the CA and
# certificate generated in the data folder (tls/ca.crt, tls/server.crt).
# Reloaded on SIGHUP.
# cert = {{q .TLS.Cert}}
# key = {{q .TLS.Key}}

[auth]
# Where LOGIN and AUTHENTICATE PLAIN are allowed without TLS:
# "loopback" (only from 127.0.0.1 and ::1), "always" or "never". Elsewhere a
# plain connection shows LOGINDISABLED and must use STARTTLS first.
# plaintext = {{q .Auth.Plaintext}}
# Dovecot-style passwd-file (name:{SCHEME}hash); "" means <data_dir>/passwd.
# passwd_file = {{q .Auth.PasswdFile}}
# How long a correct password is remembered, so that a client logging in
# again (webmail: once per page) skips the slow hash; "0s" turns it off.
# The cache holds no password (only an HMAC under a key made at each start)
# and forgets a user whose passwd-file line changes or goes, at once.
# Wrong passwords are always checked in full. Emptied on SIGHUP.
# cache_ttl = {{q .Auth.CacheTTL}}
# Users remembered at once (0 turns the cache off).
# cache_size = {{.Auth.CacheSize}}

[imap]
# How long a client sits in IDLE, or logged in without sending a command,
# before its connection is hibernated (no goroutine, no buffers); "0s" turns
# hibernation off.
# hibernate_after = {{q .IMAP.HibernateAfter}}
# Interval of "* OK Still here" sent during IDLE, to keep NAT entries alive
# (Dovecot's imap_idle_notify_interval). Clients answer it (Thunderbird: DONE,
# NOOP, UID FETCH <uidnext>:* (FLAGS), IDLE); a hibernated connection answers
# those asleep, and metric dormouse_imap_keepalive_wakes_total counts the
# answers that needed a full wake.
# idle_keepalive = {{q .IMAP.IdleKeepalive}}
# Host names, separated by spaces, by which IMAP URLs (CATENATE's URL parts,
# URLAUTH) name this server. TCP does not tell which name a client used, so
# a URL's host must be one of these or the IP address the connection came in
# on, and its port absent (the default port) or the one the connection came
# in on; other URLs name another server and get [BADURL].
# server_names = {{q .IMAP.ServerNames}}
# Users, separated by spaces, that act as a message submission server (BURL,
# RFC 4468) and may fetch URLAUTH URLs authorized for "submit+USER" (RFC 4467).
# urlauth_submitters = {{q .IMAP.URLAuthSubmitters}}

[limits]
# Longest command line, in bytes, literals not counted.
# max_line = {{.Limits.MaxLine}}
# Largest literal or APPENDed message, in bytes.
# max_literal = {{.Limits.MaxLiteral}}
# Time allowed to log in after connecting.
# login_timeout = {{q .Limits.LoginTimeout}}
# Time an authenticated client may send nothing outside IDLE (RFC 9051: at
# least 30 minutes).
# idle_timeout = {{q .Limits.IdleTimeout}}
# Pause after a failed login, to slow down password guessing.
# failed_login_delay = {{q .Limits.FailedLoginDelay}}
# Time allowed to send one whole command, literals included, once it has
# started: a client trickling bytes (slowloris) is cut off after it.
# command_timeout = {{q .Limits.CommandTimeout}}
# Time allowed for a TLS handshake (IMAPS, or after STARTTLS): a client that
# connects and never starts it is dropped then.
# tls_handshake_timeout = {{q .Limits.TLSHandshakeTimeout}}
# Unauthenticated connections allowed at once from one client address
# (IPv6: one /64); more are refused with "* BYE". 0 = no limit.
# max_preauth_per_addr = {{.Limits.MaxPreAuthPerAddr}}
# Failed-login penalty (like Dovecot's auth_penalty): after this many recent
# failed logins from one address, or for one user name from one address,
# each further LOGIN or AUTHENTICATE from there waits before its password is
# checked: login_penalty_max/8 at first, doubling with each further failure,
# at most login_penalty_max. Nothing is refused: the right password still
# logs in after the wait, and a user who logged in from an address lately
# does not wait for other names' failures there. One failure is forgiven
# every login_failure_refill. 0 = no wait.
# login_failures_per_addr = {{.Limits.LoginFailuresPerAddr}}
# login_failures_per_user = {{.Limits.LoginFailuresPerUser}}
# login_failure_refill = {{q .Limits.LoginFailureRefill}}
# login_penalty_max = {{q .Limits.LoginPenaltyMax}}
# Logged-in connections of one user, and of one user from one address
# (Dovecot's mail_max_userip_connections), hibernated ones not counted; a
# login over either gets NO [UNAVAILABLE]. 0 = no limit.
# max_connections_per_user = {{.Limits.MaxConnectionsPerUser}}
# max_connections_per_user_addr = {{.Limits.MaxConnectionsPerUserAddr}}
# Mailboxes of one user; CREATE over it gets NO [LIMIT]. 0 = no limit.
# max_mailboxes_per_user = {{.Limits.MaxMailboxesPerUser}}
# METADATA (RFC 5464) of one user, on the server and all mailboxes: bytes
# of one value, entries, and bytes of all values; SETMETADATA past them
# gets NO [METADATA MAXSIZE n] or NO [METADATA TOOMANY]. 0 = no limit.
# max_metadata_entry_size = {{.Limits.MaxMetadataEntrySize}}
# max_metadata_entries = {{.Limits.MaxMetadataEntries}}
# max_metadata_size = {{.Limits.MaxMetadataSize}}

[lmtp]
# Characters that separate a local part from its detail, as Dovecot's
# recipient_delimiter: alice+lists@example.org is delivered to alice. ""
# turns details off. Also used by "dormouse deliver". User names compare
# case-insensitively (ALICE@ is alice).
# recipient_delimiter = {{q .LMTP.RecipientDelimiter}}
# Deliver alice+lists into alice's mailbox "lists" when it exists, INBOX
# otherwise (Dovecot's lmtp_save_to_detail_mailbox).
# save_to_detail_mailbox = {{.LMTP.SaveToDetailMailbox}}

[quota]
# Every user's quota, in Dovecot's quota_rule form: "*:storage=1G" (a bare
# number is KiB; B, k, M, G, T units), "*:bytes=N", "*:messages=N", several
# separated by spaces; "" = no limit. A user's passwd-file line may carry
# its own in the extra fields, as with Dovecot:
#   alice:{BLF-CRYPT}...::::::userdb_quota_rule=*:storage=2G
# APPEND, COPY and IMAP delivery past it get NO [OVERQUOTA], LMTP 552 5.2.2,
# "dormouse deliver" exit status 73 (EX_CANTCREAT).
# rule = {{q .Quota.Rule}}
# Users, separated by spaces, who may change limits with SETQUOTA (their
# own quota root "" and other users' "user/NAME"); "" = nobody.
# admins = {{q .Quota.Admins}}

[store]
# When flag changes (STORE) and expunges reach the disk. "always": before
# their OK; concurrent changes of one user share one commit. "delayed":
# within flag_sync_delay after their OK, as with Dovecot's default
# mail_fsync (optimized): a crash of the server process loses none of them,
# but a power loss or kernel crash within the delay makes the index of each
# user who changed flags in it be rebuilt from the Maildir (new UIDVALIDITY,
# so clients download their lists again, and keywords are lost; messages and
# their \Seen, \Flagged... flags are kept). Appended and delivered
# messages are always on disk before their OK; under "delayed" the index
# records their UIDs within the delay too (a rebuild gives them new ones).
# flag_sync = {{q .Store.FlagSync}}
# flag_sync_delay = {{q .Store.FlagSyncDelay}}
# Watch mailbox folders (inotify) for changes other programs make. false:
# they are found when a mailbox is opened, and as they happen only through
# the datagrams local writers send on DATA/notice.sock (dormouse deliver
# does; a script runs "dormouse notice USER MAILBOX"): for Maildirs on a
# network filesystem.
# inotify = {{.Store.Inotify}}

[cluster]
# Shared secret a "dormouse proxy" presents to this backend (XPROXY, XRESUME:
# it logs clients in without their passwords, so keep it like a password,
# at least 16 bytes); "" lets no proxy connect.
# secret = {{q .Cluster.Secret}}
# NATS servers (URLs, comma-separated) to publish a change notice on for
# every change of a mailbox, for hibernating proxies; "embedded:HOST:PORT"
# runs a NATS server inside this process for a single node; "" = none.
# nats = {{q .Cluster.NATS}}
# This backend's name in its notices; "" = its IMAP listen address.
# node = {{q .Cluster.Node}}
# How long a mailbox's folders stay watched after a session of it last handed
# off to its proxy (so that other programs' writes there still become notices);
# "0s" = limits.idle_timeout. Raise it if proxies keep sleepers idling longer.
# handoff_watch_lease = {{q .Cluster.HandoffWatchLease}}
# At most this many mailboxes stay watched so (three inotify watches each);
# past it a handoff holds no watch, and other programs' writes into its mailbox
# wait for the mailbox's next opening. 0 = none held.
# handoff_watch_max = {{.Cluster.HandoffWatchMax}}

[runtime]
# Soft memory limit of the Go runtime, in bytes (as GOMEMLIMIT; 0 = the
# runtime's own, which is none unless GOMEMLIMIT is set). Near it the runtime
# collects garbage sooner and gives freed memory back to the OS: set it a
# little above what the server needs (its sleepers plus the sessions awake
# at the busiest time) to keep its resident memory near that. Below what the
# server needs, it collects all the time and uses more CPU, never fails.
# memory_limit = {{.Runtime.MemoryLimit}}
# The Go runtime's GOGC: a collection starts once the heap has grown this many
# percent over what the last one left live. Lower keeps less garbage resident
# for more CPU per wake. 0 = the runtime's own (GOGC, or 100).
# gc_percent = {{.Runtime.GCPercent}}
# Keep the soft memory limit a little above what the server holds after each
# collection (half its live heap, at least 4 MiB), lifted while collections
# come fast (a burst of wakes, a search-index build): less garbage and free
# heap resident in a server that keeps serving while its sessions sleep, for
# more frequent collections between bursts. A busy server whose small heap
# allocates fast gets room for 100 ms of allocation (at most 16 MiB, GOGC
# raised while it lasts). Ignored when memory_limit or GOMEMLIMIT sets a limit.
# memory_follow = {{.Runtime.MemoryFollow}}

[proxy]
# Read only by "dormouse proxy". Backend IMAP addresses (plain TCP) users
# are spread over, e.g. ["10.0.0.1:1143", "10.0.0.2:1143"].
# backends = []
# "hash" (rendezvous hashing of the user name over backends) or "kv" (the
# user->backend map in NATS JetStream KV, the hash as its fallback).
# route = {{q .Proxy.Route}}

[log]
# "text" or "json".
# format = {{q .Log.Format}}
# "debug", "info", "warn" or "error".
# level = {{q .Log.Level}}
`))

// WriteCommented writes c as a configuration file in which every setting is
// present and commented out.
func WriteCommented(w io.Writer, c Config) error {
	var b bytes.Buffer
	if err := commented.Execute(&b, c); err != nil {
		return fmt.Errorf("config template: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteDefaultFile writes c with WriteCommented to path unless a file is
// already there, which is left alone. It reports whether it wrote one.
func WriteDefaultFile(path string, c Config) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("write config: %w", err)
	}
	if err := WriteCommented(f, c); err != nil {
		f.Close()
		os.Remove(path)
		return false, fmt.Errorf("write config %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("write config %s: %w", path, err)
	}
	return true, nil
}

// quote writes v as a TOML basic string.
func quote(v any) string { return strconv.Quote(fmt.Sprint(v)) }
