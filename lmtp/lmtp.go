// Package lmtp delivers mail from an MTA (Postfix, or anything that speaks
// LMTP, RFC 2033) into users' INBOXes.
//
// A recipient <name@any.domain> reaches the user named by the whole address
// if there is one, else the user named by its local part; a bare local
// part <name> is accepted too, as Dovecot does. Names compare as the
// Directory compares them (auth.CanonicalName: case-insensitively). With
// a recipient delimiter ("+"), <name+detail@domain> reaches name, and, with
// SaveToDetailMailbox, the mailbox called detail when it exists (INBOX
// otherwise). An unknown recipient is refused at RCPT with 550. After DATA
// each accepted recipient gets its own reply: 250 once the message is
// stored durably for that user, 4xx when the store failed (the MTA will
// retry that recipient only). A transaction stores the message once per
// user and mailbox however often the recipients name them.
package lmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dormouse/dormouse/mailstore"
)

// Directory tells which users exist.
type Directory interface {
	// LookupUser returns the mail user that name reaches, comparing names
	// the directory's way (auth.CanonicalName), or ok false.
	LookupUser(name string) (user string, ok bool, err error)
}

// Config configures a Server.
type Config struct {
	Store mailstore.Store
	Users Directory
	// Logger receives one line per delivery; nil means slog.Default().
	Logger *slog.Logger
	// Domain is the name in the greeting ("" = the host name).
	Domain string
	// MaxMessageBytes refuses larger messages (0 = 64 MiB).
	MaxMessageBytes int64
	// SpoolDir holds a message while it is delivered to its recipients
	// ("" = os.TempDir()).
	SpoolDir string
	// Metrics receives counters; nil means none.
	Metrics *Metrics
	// Timeout bounds each read and write on a connection (0 = 5 minutes).
	Timeout time.Duration
	// RecipientDelimiter holds the characters that separate a local part
	// from its detail, as Dovecot's recipient_delimiter ("" = none; the
	// configuration's default is "+").
	RecipientDelimiter string
	// SaveToDetailMailbox delivers name+detail into the mailbox named
	// detail when it exists, as Dovecot's lmtp_save_to_detail_mailbox.
	SaveToDetailMailbox bool
}

// Server is an LMTP server.
type Server struct {
	cfg Config
	log *slog.Logger
	srv *smtp.Server
}

// New returns a server; start it with Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Users == nil {
		return nil, errors.New("lmtp: Store and Users are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 64 << 20
	}
	if cfg.Domain == "" {
		cfg.Domain, _ = os.Hostname()
		if cfg.Domain == "" {
			cfg.Domain = "localhost"
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("proto", "lmtp")}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.LMTP = true
	srv.Domain = cfg.Domain
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = 1000
	// RFC 5321 allows 1000-byte lines, but mail with longer ones exists and
	// an MTA that accepted it should be able to hand it over; Dovecot's
	// LMTP takes it too.
	srv.MaxLineLength = 64 << 10
	srv.ReadTimeout = cfg.Timeout
	srv.WriteTimeout = cfg.Timeout
	srv.EnableSMTPUTF8 = true
	srv.EnableBINARYMIME = false
	srv.ErrorLog = slogPrinter{s.log}
	s.srv = srv
	return s, nil
}

// Serve accepts connections on ln until Shutdown; it returns nil after a
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(bareRcptListener{ln, s.cfg.Domain})
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for the open ones to
// finish, until ctx ends; then it closes them.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil && ctx.Err() != nil {
		s.srv.Close()
	}
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Recipient is where an address delivers.
type Recipient struct {
	User   string // the mail user, as the Directory names it
	Detail string // the part after the recipient delimiter, as written ("" for none)
}

// Resolve maps a recipient address to a user: the whole address, then its
// local part (RFC 5321 addresses are local@domain; LMTP clients also send
// bare local parts), each first as written and then without the detail
// that follows the first of the delimiters (so a user whose name holds a
// delimiter is still found). ok is false when no user matches. LMTP and
// `dormouse deliver` share it.
func Resolve(dir Directory, addr, delimiters string) (r Recipient, ok bool, err error) {
	domain := ""
	local := addr
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, domain = addr[:i], addr[i:]
	}
	type candidate struct{ name, detail string }
	candidates := []candidate{{addr, ""}}
	base, detail := local, ""
	if i := strings.IndexAny(local, delimiters); delimiters != "" && i > 0 {
		base, detail = local[:i], local[i+1:]
		if domain != "" {
			candidates = append(candidates, candidate{base + domain, detail})
		}
	}
	if domain != "" {
		candidates = append(candidates, candidate{local, ""})
	}
	if detail != "" || base != local {
		candidates = append(candidates, candidate{base, detail})
	}
	for _, c := range candidates {
		if c.name == "" {
			continue
		}
		user, ok, err := dir.LookupUser(c.name)
		if err != nil {
			return Recipient{}, false, err
		}
		if ok {
			return Recipient{User: user, Detail: c.detail}, true, nil
		}
	}
	return Recipient{}, false, nil
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, remote: c.Conn().RemoteAddr().String()}, nil
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) { p.log.Warn(fmt.Sprintf(format, v...)) }
func (p slogPrinter) Println(v ...any)               { p.log.Warn(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

// rcpt is an accepted recipient: the address as given at RCPT (go-smtp
// keys statuses by it) and the user it reaches.
type rcpt struct {
	addr, user string
	// detail names the mailbox to try before INBOX ("" for INBOX only).
	detail string
	// inbox is the mailbox the message goes to, opened at RCPT
	// (openAhead); nil when it was not, and deliver opens it.
	inbox *openInbox
}

// openInbox is the mailbox a recipient's copy goes to (INBOX, or a detail
// mailbox) held open, with the user's handle.
type openInbox struct {
	u    mailstore.User
	mb   mailstore.Mailbox
	name string // the mailbox's name
}

func (o *openInbox) close() {
	o.mb.Close()
	o.u.Close()
}

// openAhead is how many recipients of a transaction get their INBOX
// opened at RCPT rather than after DATA. Opening a user's index (an mmap
// and its page faults, the freelist) is the largest step of a delivery to
// a user whose index is closed, such as one whose IMAP sessions are all
// hibernated; done while the MTA sends DATA and the message, it is out of
// the time between the end of the message and the user's clients hearing
// of it. Each recipient opened ahead holds a file descriptor until the
// transaction ends, so only the first few are.
const openAhead = 8

type session struct {
	s      *Server
	remote string
	from   string
	// mu guards rcpts and loggedOut: go-smtp calls Logout from another
	// goroutine when the server closes.
	mu        sync.Mutex
	rcpts     []rcpt
	loggedOut bool
}

var (
	errNoUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errLookup = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure looking up the recipient"}
)

// Reset ends the transaction: go-smtp calls it after DATA and on RSET,
// and the INBOXes opened ahead are closed.
func (ss *session) Reset() {
	ss.from = ""
	ss.mu.Lock()
	defer ss.mu.Unlock()
	closeInboxes(ss.rcpts)
	ss.rcpts = nil
}

// Logout ends the session, closing what a transaction left open.
func (ss *session) Logout() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	closeInboxes(ss.rcpts)
	ss.rcpts = nil
	ss.loggedOut = true
	return nil
}

// closeInboxes closes the INBOXes of rcpts opened ahead.
func closeInboxes(rcpts []rcpt) {
	for _, rc := range rcpts {
		if rc.inbox != nil {
			rc.inbox.close()
		}
	}
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	r, ok, err := Resolve(ss.s.cfg.Users, to, ss.s.cfg.RecipientDelimiter)
	if err != nil {
		ss.s.log.Error("recipient lookup failed", "rcpt", to, "err", err)
		return errLookup
	}
	if !ok {
		ss.s.cfg.Metrics.rcptRejected()
		ss.s.log.Info("unknown recipient", "rcpt", to, "remote", ss.remote)
		return errNoUser
	}
	rc := rcpt{addr: to, user: r.User}
	if ss.s.cfg.SaveToDetailMailbox {
		rc.detail = r.Detail
	}
	ss.mu.Lock()
	ahead := len(ss.rcpts) < openAhead && !ss.named(rc)
	ss.mu.Unlock()
	if ahead {
		rc.inbox = ss.s.openInboxAhead(rc.user, rc.detail)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.loggedOut {
		closeInboxes([]rcpt{rc})
		return errors.New("session closed")
	}
	ss.rcpts = append(ss.rcpts, rc)
	return nil
}

// named reports whether an earlier recipient of the transaction reaches
// the same user and mailbox as rc. Callers hold ss.mu.
func (ss *session) named(rc rcpt) bool {
	for _, o := range ss.rcpts {
		if o.user == rc.user && o.detail == rc.detail {
			return true
		}
	}
	return false
}

// openInboxAhead opens a recipient's mailbox ahead of a delivery
// (openAhead); nil if that fails, and the delivery tries again and
// reports what it meets.
func (s *Server) openInboxAhead(user, detail string) *openInbox {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := s.openInbox(ctx, user, detail)
	if err != nil {
		s.log.Debug("open INBOX ahead of delivery", "user", user, "err", err)
		return nil
	}
	return in
}

// openInbox opens a user and the mailbox a copy goes to: the one named
// detail when it is set and exists, else INBOX.
func (s *Server) openInbox(ctx context.Context, user, detail string) (*openInbox, error) {
	u, err := s.cfg.Store.User(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("open user %s: %w", user, err)
	}
	if detail != "" && !mailstore.IsInbox(detail) {
		mb, err := u.Mailbox(ctx, detail)
		if err == nil {
			return &openInbox{u: u, mb: mb, name: detail}, nil
		}
		if !errors.Is(err, mailstore.ErrNoMailbox) && !errors.Is(err, mailstore.ErrBadName) {
			u.Close()
			return nil, fmt.Errorf("open mailbox %q of %s: %w", detail, user, err)
		}
	}
	mb, err := u.Mailbox(ctx, "INBOX")
	if err != nil {
		u.Close()
		return nil, fmt.Errorf("open INBOX of %s: %w", user, err)
	}
	return &openInbox{u: u, mb: mb, name: "INBOX"}, nil
}

// Data is only used outside LMTP mode; the server always runs in LMTP mode.
func (ss *session) Data(r io.Reader) error {
	return ss.LMTPData(r, discardStatus{})
}

type discardStatus struct{}

func (discardStatus) SetStatus(string, error) {}

// LMTPData spools the message once, then stores it for each recipient and
// reports each result separately (RFC 2033 4.2).
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	start := time.Now()
	spool, size, err := ss.spool(r)
	if err != nil {
		ss.s.log.Error("spool message", "err", err)
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se // e.g. 552 for a message over the size limit
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			// Permanent: the same bytes would fail on every retry.
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message has a line over 64 KiB"}
		}
		if mailstore.IsNoSpace(err) {
			ss.s.cfg.Metrics.diskFull()
			// The spool's disk is full: say so (RFC 3463 4.3.1), so that
			// the MTA's log names the cause; it retries either way.
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, try again later"}
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Could not receive the message"}
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	ss.s.cfg.Metrics.received(size)
	received := time.Now()
	// The deliveries own the recipients' INBOXes from here: a Logout
	// meanwhile (the server closing) must not close one under an Append.
	ss.mu.Lock()
	rcpts := ss.rcpts
	ss.rcpts = nil
	ss.mu.Unlock()
	defer closeInboxes(rcpts)
	// A recipient named again (the same address, or another spelling of
	// it: case, detail) gets the reply of the first, and no second copy.
	// Dovecot answers a repeated RCPT with 250 and delivers once too,
	// though it compares the addresses, not the users and mailboxes they
	// reach.
	done := make(map[deliveryTarget]*smtp.SMTPError)
	for _, rc := range rcpts {
		target := deliveryTarget{rc.user, rc.detail}
		if res, dup := done[target]; dup {
			status.SetStatus(rc.addr, statusErr(res))
			continue
		}
		uid, mailbox, err := ss.deliver(spool, rc)
		if err != nil {
			ss.s.log.Error("delivery failed", "user", rc.user, "rcpt", rc.addr, "err", err)
			se := storeError(err)
			if mailstore.IsNoSpace(err) {
				ss.s.cfg.Metrics.diskFull()
			}
			ss.s.cfg.Metrics.delivered(se)
			done[target] = se
			status.SetStatus(rc.addr, se)
			continue
		}
		ss.s.log.Info("delivered", "user", rc.user, "mailbox", mailbox, "uid", uid, "size", size, "dur", time.Since(start))
		ss.s.cfg.Metrics.stored(received)
		ss.s.cfg.Metrics.delivered(nil)
		done[target] = nil
		status.SetStatus(rc.addr, nil)
	}
	return nil
}

// deliveryTarget is a user and the detail mailbox asked for: one copy of a
// message each.
type deliveryTarget struct{ user, detail string }

// statusErr keeps a nil *smtp.SMTPError a nil error.
func statusErr(se *smtp.SMTPError) error {
	if se == nil {
		return nil
	}
	return se
}

// spool copies the message, behind a Return-Path header (RFC 5321 4.4: the
// final delivery adds it), into a temporary file.
func (ss *session) spool(r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp(ss.s.cfg.SpoolDir, "lmtp-*.eml")
	if err != nil {
		return nil, 0, fmt.Errorf("spool: %w", err)
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	n1, err := fmt.Fprintf(f, "Return-Path: <%s>\r\n", ss.from)
	if err != nil {
		return fail(fmt.Errorf("spool: %w", err))
	}
	n2, err := io.Copy(f, r)
	if err != nil {
		// go-smtp's own errors (too large) carry the right reply.
		return fail(err)
	}
	return f, int64(n1) + n2, nil
}

// deliver stores the spooled message for rc and returns its UID and the
// mailbox it went to.
func (ss *session) deliver(spool *os.File, rc rcpt) (uint32, string, error) {
	user := rc.user
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return 0, "", fmt.Errorf("rewind spool: %w", err)
	}
	// The delivery must finish even if the client goes away: the store
	// commits or not, and the MTA retries what it did not hear 250 for.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := rc.inbox // opened ahead: closed when the transaction ends
	if in == nil {
		var err error
		if in, err = ss.s.openInbox(ctx, user, rc.detail); err != nil {
			return 0, "", err
		}
		defer in.close()
	}
	uid, err := in.mb.Append(ctx, spool, nil, time.Time{})
	if err != nil {
		return 0, "", fmt.Errorf("append to %s of %s: %w", in.name, user, err)
	}
	return uid, in.name, nil
}

// storeError maps a store error to the reply for one recipient. Only a
// message that can never fit, and a recipient over quota, are permanent
// failures; everything else is worth a retry by the MTA.
func storeError(err error) *smtp.SMTPError {
	switch {
	case errors.Is(err, mailstore.ErrTooBig):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	case errors.Is(err, mailstore.ErrOverQuota):
		// Permanent, as Dovecot's default quota_full_tempfail = no:
		// the MTA bounces rather than retrying for days.
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox is over quota"}
	case errors.Is(err, mailstore.ErrNoSpace):
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full, try again later"}
	default:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure storing the message"}
	}
}

// Metrics counts LMTP activity for Prometheus. A nil *Metrics counts
// nothing.
type Metrics struct {
	deliveries *prometheus.CounterVec
	rejected   prometheus.Counter
	bytes      prometheus.Counter
	// latency is the time from the end of DATA to a recipient's copy
	// stored (fsynced, its UID recorded), per copy stored.
	latency   prometheus.Histogram
	diskFulls prometheus.Counter
}

// NewMetrics makes the counters; register them with Collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dormouse", Subsystem: "lmtp", Name: "deliveries_total",
			Help: "Messages stored for one recipient, by result (ok, tempfail, permfail).",
		}, []string{"result"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dormouse", Subsystem: "lmtp", Name: "recipients_rejected_total",
			Help: "RCPT commands refused because no such user exists.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dormouse", Subsystem: "lmtp", Name: "received_bytes_total",
			Help: "Bytes of message data received.",
		}),
	}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "dormouse", Subsystem: "lmtp", Name: "delivery_seconds",
		Help:    "Time from the end of DATA to one recipient's copy stored (fsynced, UID recorded), per copy stored; later recipients of a transaction include the earlier ones' time.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms to ~16 s
	})
	m.diskFulls = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "lmtp", Name: "disk_full_total",
		Help: "Messages or copies answered 452 because the disk or the file system's quota was full (ENOSPC, EDQUOT), in the spool or a mailbox.",
	})
	// Every result is exported from the start, so that a rate() over it
	// works before the first failure.
	for _, r := range []string{"ok", "tempfail", "permfail"} {
		m.deliveries.WithLabelValues(r)
	}
	return m
}

// Collectors returns the collectors to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.deliveries, m.rejected, m.bytes, m.latency, m.diskFulls}
}

func (m *Metrics) delivered(err *smtp.SMTPError) {
	if m == nil {
		return
	}
	switch {
	case err == nil:
		m.deliveries.WithLabelValues("ok").Inc()
	case err.Code >= 500:
		m.deliveries.WithLabelValues("permfail").Inc()
	default:
		m.deliveries.WithLabelValues("tempfail").Inc()
	}
}

func (m *Metrics) stored(since time.Time) {
	if m != nil {
		m.latency.Observe(time.Since(since).Seconds())
	}
}

func (m *Metrics) diskFull() {
	if m != nil {
		m.diskFulls.Inc()
	}
}

func (m *Metrics) rcptRejected() {
	if m != nil {
		m.rejected.Inc()
	}
}

func (m *Metrics) received(n int64) {
	if m != nil {
		m.bytes.Add(float64(n))
	}
}
