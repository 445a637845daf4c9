package imapserver

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/mailstore"
)

// ErrBadCredentials is what an Authenticator returns (wrapped or not) for a
// wrong user name or password; any other error is a back-end failure. It is
// the passwd-file's own sentinel, so that package needs no adapter.
var ErrBadCredentials = auth.ErrBadCredentials

// Authenticator checks a user's password and returns the mail user's name.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (user string, err error)
}

// PlaintextAuth says where LOGIN and AUTHENTICATE PLAIN are allowed without TLS.
type PlaintextAuth int

// Plaintext authentication policies.
const (
	PlaintextLoopback PlaintextAuth = iota // only from loopback addresses (default)
	PlaintextAlways
	PlaintextNever
)

// Limits bound what one connection may use. There is no limit on commands
// in flight: a session reads and runs one command at a time, so a
// pipelining client's surplus waits in the socket buffer, under TCP
// backpressure.
type Limits struct {
	MaxLine          int           // longest command line without literals (default 64 KiB)
	MaxLiteral       int64         // largest literal or APPEND message (default 64 MiB)
	LoginTimeout     time.Duration // from connecting to logging in (default 60 s)
	IdleTimeout      time.Duration // authenticated, no command and no IDLE (default 30 min, RFC 9051 5.4)
	FailedLoginDelay time.Duration // pause after a failed login (default 2 s; negative for none)
	// CommandTimeout bounds reading one command, literals included, from
	// its first byte (default 10 min): a slowloris client is cut off.
	CommandTimeout time.Duration
	// TLSHandshakeTimeout bounds a TLS handshake, implicit or after
	// STARTTLS (default 15 s; never beyond LoginTimeout): a client that
	// never sends its ClientHello is dropped then.
	TLSHandshakeTimeout time.Duration
	// MaxPreAuthPerAddr bounds the unauthenticated connections of one
	// client address (IPv6: one /64) (default 256; negative for none).
	MaxPreAuthPerAddr int
	// LoginFailuresPerAddr and LoginFailuresPerUser are how many recent
	// failed logins a client address, and a user name at an address, may
	// have before further login attempts under them wait before their
	// password is checked (defaults 10 and 3; negative for no wait); one
	// failure is forgiven every LoginFailureRefill (default 1 min). The
	// wait starts at LoginPenaltyMax/8 and doubles with each further
	// failure up to LoginPenaltyMax (default 15 s, as Dovecot's
	// auth_penalty). No attempt is refused: the right password gets in
	// after the wait; a user who logged in from an address lately does not
	// wait for the address's failures (loginpenalty.go).
	LoginFailuresPerAddr int
	LoginFailuresPerUser int
	LoginFailureRefill   time.Duration
	LoginPenaltyMax      time.Duration

	// Per-user limits.
	//
	// MaxConnsPerUser and MaxConnsPerUserAddr bound the logged-in,
	// non-hibernated connections of one user, and of one user from one
	// client address (Dovecot's mail_max_userip_connections); a login
	// over either gets NO [UNAVAILABLE] (defaults 200 and 50; negative for
	// none). MaxMailboxesPerUser bounds a user's mailboxes; CREATE over it
	// gets NO [LIMIT] (default 10,000; negative for none).
	MaxConnsPerUser     int
	MaxConnsPerUserAddr int
	MaxMailboxesPerUser int

	// METADATA (RFC 5464) limits of one user: the size of one value
	// (default 64 KiB), the entries on the server and all mailboxes
	// together (default 1,000) and the size of all values (default
	// 1 MiB); negative for none. SETMETADATA past them gets NO [METADATA
	// MAXSIZE n] or NO [METADATA TOOMANY].
	MaxMetadataEntrySize int64
	MaxMetadataEntries   int
	MaxMetadataSize      int64
}

// Config configures a Server. Zero values take the defaults above.
type Config struct {
	Store  mailstore.Store
	Auth   Authenticator
	TLS    *tls.Config // enables STARTTLS on plain listeners; nil disables it
	Plain  PlaintextAuth
	Logger *slog.Logger
	Limits Limits
	// SpoolDir holds large APPEND literals while they are read, and
	// CATENATE messages while they are assembled ("" = os.TempDir()).
	SpoolDir string
	// ServerNames are the host names by which IMAP URLs (CATENATE,
	// URLAUTH) name this server. TCP does not tell which name a client
	// connected to, so a URL's host must be one of these or the address
	// the connection came in on, and its port absent (the default) or
	// the port the connection came in on; any other URL names another
	// server (imapurl.go).
	ServerNames []string
	// URLAuthSubmitters are the users that act as a message submission
	// server (RFC 4468 BURL) and may therefore fetch URLAUTH URLs
	// authorized for "submit+USER" (RFC 4467 3); none means no one.
	URLAuthSubmitters []string
	// HibernateAfter is how long a logged-in connection waits, in IDLE or
	// for its next command, before hibernating; 0 turns hibernation off.
	// Plain and TLS connections both hibernate (doc.go, "Hibernation").
	HibernateAfter time.Duration
	// IdleKeepalive is the interval of "* OK Still here" during IDLE (default 2 min).
	IdleKeepalive time.Duration
	// Metrics receives counters; nil means none.
	Metrics *Metrics
	// Slept, when set, is told of each connection that hibernated, or
	// handed off to its proxy (when it did); it must return at once. cmd/dormouse gives it its memory
	// policy (internal/memreturn), which returns the heap a wave of
	// sleepers freed.
	Slept func(time.Time)
	// JobDone, when set, is told when the server's background work ends
	// after reading many messages (the search-index builder, when its
	// queue is empty): the garbage it made has let the heap grow, and
	// cmd/dormouse's memory policy (internal/memreturn) returns it. It
	// must return at once.
	JobDone func()
	// QuotaAdmins are the users who may set quota limits with SETQUOTA
	// (RFC 9208 4.1.3), their own and other users' (quota.go); none
	// means no one, and QUOTASET is not advertised.
	QuotaAdmins []string
	// GuardMetrics counts refusals by the per-address and login limits;
	// nil means none.
	GuardMetrics *GuardMetrics
	// ProxySecret is the shared secret a trusted proxy presents in XPROXY
	// and XRESUME (proxyhop.go); "" (the default) lets no proxy connect,
	// and those commands are then unknown. With it set, Auth must be able
	// to look users up without a password (LookupUser, as the passwd-file
	// can).
	ProxySecret string
	// HandoffWatchMax bounds the mailboxes whose folders stay watched for
	// sessions handed off to their proxy (proxyhop_watch.go): one hold
	// per user and mailbox, for the idle timeout after its latest handoff,
	// so that another program's writes still become events (and notices)
	// while every session of the mailbox sleeps at a proxy. 0 means
	// DefaultHandoffWatchMax; negative keeps none. A handoff beyond the
	// bound is counted (proxy_handoff_watch_full_total) and its mailbox is
	// then seen to change only through hints, LMTP or its next opening.
	HandoffWatchMax int
	// HandoffWatchLease is how long a mailbox stays watched after its
	// latest handoff (HandoffWatchMax); 0 means Limits.IdleTimeout. An
	// IDLE its proxy answers asleep for longer, with no resume and no
	// new handoff, loses the watch: raise it when proxies keep sleepers
	// that long.
	HandoffWatchLease time.Duration
	// NoSearchIndex turns off the full-text index that SEARCH BODY and
	// TEXT keep and use (searchfts.go): every such search reads every
	// message. For measuring what the index gives.
	NoSearchIndex bool
}

// DefaultHandoffWatchMax is Config.HandoffWatchMax's default: each held
// mailbox costs three inotify watches (new/, cur/, tmp/), as a local
// sleeper's INBOX does.
const DefaultHandoffWatchMax = 10000

// Default limits, used where a Limits field is zero.
const (
	DefaultMaxLine          = 64 << 10
	DefaultMaxLiteral       = 64 << 20
	DefaultLoginTimeout     = 60 * time.Second
	DefaultIdleTimeout      = 30 * time.Minute // RFC 9051 5.4: at least 30 minutes
	DefaultFailedLoginDelay = 2 * time.Second
	DefaultIdleKeepalive    = 2 * time.Minute

	DefaultCommandTimeout       = 10 * time.Minute
	DefaultTLSHandshakeTimeout  = 15 * time.Second // several round trips of a slow mobile link
	DefaultMaxPreAuthPerAddr    = 256
	DefaultLoginFailuresPerAddr = 10
	DefaultLoginFailuresPerUser = 3
	DefaultLoginFailureRefill   = time.Minute
	DefaultLoginPenaltyMax      = 15 * time.Second

	DefaultMaxConnsPerUser     = 200
	DefaultMaxConnsPerUserAddr = 50
	DefaultMaxMailboxesPerUser = 10_000

	DefaultMaxMetadataEntrySize = 64 << 10
	DefaultMaxMetadataEntries   = 1000
	DefaultMaxMetadataSize      = 1 << 20
)

// withDefaults returns l with zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	// Sizes and timeouts that cannot be off: zero or negative is the
	// default.
	l.MaxLine = positiveOr(l.MaxLine, DefaultMaxLine)
	l.MaxLiteral = positiveOr(l.MaxLiteral, DefaultMaxLiteral)
	l.LoginTimeout = positiveOr(l.LoginTimeout, DefaultLoginTimeout)
	l.TLSHandshakeTimeout = positiveOr(l.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	l.IdleTimeout = positiveOr(l.IdleTimeout, DefaultIdleTimeout)
	l.CommandTimeout = positiveOr(l.CommandTimeout, DefaultCommandTimeout)
	l.LoginFailureRefill = positiveOr(l.LoginFailureRefill, DefaultLoginFailureRefill)
	// Limits and pauses a negative value turns off.
	l.MaxPreAuthPerAddr = orDefault(l.MaxPreAuthPerAddr, DefaultMaxPreAuthPerAddr)
	l.LoginFailuresPerAddr = orDefault(l.LoginFailuresPerAddr, DefaultLoginFailuresPerAddr)
	l.LoginFailuresPerUser = orDefault(l.LoginFailuresPerUser, DefaultLoginFailuresPerUser)
	l.LoginPenaltyMax = orDefault(l.LoginPenaltyMax, DefaultLoginPenaltyMax)
	l.MaxConnsPerUser = orDefault(l.MaxConnsPerUser, DefaultMaxConnsPerUser)
	l.MaxConnsPerUserAddr = orDefault(l.MaxConnsPerUserAddr, DefaultMaxConnsPerUserAddr)
	l.MaxMailboxesPerUser = orDefault(l.MaxMailboxesPerUser, DefaultMaxMailboxesPerUser)
	l.MaxMetadataEntries = orDefault(l.MaxMetadataEntries, DefaultMaxMetadataEntries)
	l.MaxMetadataEntrySize = orDefault(l.MaxMetadataEntrySize, DefaultMaxMetadataEntrySize)
	l.MaxMetadataSize = orDefault(l.MaxMetadataSize, DefaultMaxMetadataSize)
	l.FailedLoginDelay = orDefault(l.FailedLoginDelay, DefaultFailedLoginDelay)
	return l
}

// orDefault maps 0 to def and a negative n (off) to 0.
func orDefault[T ~int | ~int64](n, def T) T {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}

// positiveOr returns n when it is positive, else def.
func positiveOr[T ~int | ~int64](n, def T) T {
	if n > 0 {
		return n
	}
	return def
}
