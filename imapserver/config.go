// Package imapserver serves IMAP connections: the session state machine and
// the command handlers, over a mailstore.Store.
package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// ErrBadCredentials is what an Authenticator returns for a wrong user name
// or password.
var ErrBadCredentials = errors.New("invalid credentials")

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

// Limits bound what one connection may use.
type Limits struct {
	MaxLine          int           // longest command line without literals (default 64 KiB)
	MaxLiteral       int64         // largest literal or APPEND message (default 64 MiB)
	MaxInFlight      int           // pipelined commands read ahead (default 32)
	LoginTimeout     time.Duration // unauthenticated connection (default 60 s)
	IdleTimeout      time.Duration // authenticated, no command and no IDLE (default 30 min, RFC 9051 5.4)
	FailedLoginDelay time.Duration // pause after a failed login (default 2 s)
}

// Config configures a Server. Zero values take the defaults above.
type Config struct {
	Store  mailstore.Store
	Auth   Authenticator
	TLS    *tls.Config // enables STARTTLS on plain listeners; nil disables it
	Plain  PlaintextAuth
	Logger *slog.Logger
	Limits Limits
	// SpoolDir holds large APPEND literals while they are read ("" = os.TempDir()).
	SpoolDir string
	// HibernateAfter is how long a connection idles before hibernating; 0 turns hibernation off.
	HibernateAfter time.Duration
	// IdleKeepalive is the interval of "* OK Still here" during IDLE (default 2 min).
	IdleKeepalive time.Duration
	// Metrics receives counters; nil means none.
	Metrics *Metrics
}
