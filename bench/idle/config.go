package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// config is everything the command line sets.
type config struct {
	Addr       string        `json:"addr"`
	Users      int           `json:"users"` // 0: as many as -n / -per-user needs
	UserFmt    string        `json:"user_fmt"`
	Password   string        `json:"-"`
	N          int           `json:"n"`
	PerUser    int           `json:"per_user"`
	ServerPID  int           `json:"server_pid"`
	Settle     time.Duration `json:"settle_ns"`
	GCWait     time.Duration `json:"gc_wait_ns"`
	MaildirFmt string        `json:"maildir_fmt,omitempty"`
	LMTP       string        `json:"lmtp,omitempty"`
	Deliveries int           `json:"deliveries"`
	Gap        time.Duration `json:"delivery_gap_ns"`
	WakeTO     time.Duration `json:"wake_timeout_ns"`
	Fanout     bool          `json:"fanout"`
	Repeats    int           `json:"fanout_repeats"`
	Cycles     int           `json:"cycles"`
	// Upgrade is the command line of a new server that takes over the
	// measured one (split on spaces); UpgradeLog gets its stderr.
	Upgrade     string        `json:"upgrade,omitempty"`
	UpgradeLog  string        `json:"upgrade_log,omitempty"`
	CycleCmd    string        `json:"cycle_command,omitempty"`
	RehibTO     time.Duration `json:"rehibernate_timeout_ns"`
	IdleWindow  time.Duration `json:"idle_cpu_window_ns"`
	Metrics     string        `json:"metrics,omitempty"`
	JSON        string        `json:"-"`
	Conc        int           `json:"concurrency"`
	Rate        float64       `json:"rate,omitempty"`
	StepTO      time.Duration `json:"step_timeout_ns"`
	RampTO      time.Duration `json:"ramp_timeout_ns"`
	MemLimit    float64       `json:"mem_limit_gib"`
	Prewarm     bool          `json:"prewarm,omitempty"`
	Quiet       bool          `json:"quiet,omitempty"`
	AfterSel    string        `json:"after_select,omitempty"`
	Notify      bool          `json:"notify,omitempty"`
	NotifyFetch string        `json:"notify_fetch,omitempty"`
	Halfway     bool          `json:"halfway,omitempty"`
	Compress    bool          `json:"compress,omitempty"`
	Label       string        `json:"label,omitempty"`
	// TLS dials implicit TLS (-addr is then the IMAPS address);
	// StartTLS upgrades a plain connection first; TLSMax caps the
	// version (1.2 or 1.3). Upload sends a literal of so many bytes
	// after SELECT (an APPEND to a missing mailbox: nothing is stored).
	TLS      bool   `json:"tls,omitempty"`
	StartTLS bool   `json:"starttls,omitempty"`
	TLSMax   string `json:"tls_max,omitempty"`
	Upload   int    `json:"upload_bytes,omitempty"`
	// XProxy, when set, is a proxy secret: each connection opens its
	// session with XPROXY as a proxy would (no LOGIN), so that Dormouse
	// hands it off (* XSLEEP, the connection closes) where it would
	// hibernate: what a backend holds for clients asleep at their proxy.
	XProxy string `json:"-"`
}

// Bounds on what the flags may ask for.
const (
	maxConns      = 1_000_000
	maxDeliveries = 1_000_000
	maxCycles     = 100_000
	maxRepeats    = 1_000
	maxConc       = 1_024
)

// newFlagSet returns the tool's (empty) flag set.
func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("idle", flag.ContinueOnError) }

// parseFlags parses the command line into a checked config.
func parseFlags(fs *flag.FlagSet, args []string) (config, error) {
	var c config
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:1143", "plain IMAP address")
	fs.IntVar(&c.Users, "users", 0, "users available (default: ceil(n / per-user); with -fanout 1)")
	fs.StringVar(&c.UserFmt, "user-fmt", "user%04d", "user name: fmt verb applied to the user number 0..users-1 (no verb: one fixed name)")
	fs.StringVar(&c.Password, "password", "pass", "password of every user")
	fs.IntVar(&c.N, "n", 1000, "total connections")
	fs.IntVar(&c.PerUser, "per-user", 5, "connections per user")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "server process: it and all its descendants are measured (0: no /proc figures)")
	fs.DurationVar(&c.Settle, "settle", 10*time.Second, "wait after the last \"+ idling\" before measuring (hibernation must have happened)")
	fs.DurationVar(&c.GCWait, "gc-wait", 0, "with -metrics: after -settle, wait up to this for the server to finish one more garbage collection (Go forces one every 2 min)")
	fs.StringVar(&c.MaildirFmt, "maildir-fmt", "", "a user's Maildir, %s = user name, for deliveries by rename into new/")
	fs.StringVar(&c.LMTP, "lmtp", "", "deliver by LMTP to this address instead of by rename")
	fs.IntVar(&c.Deliveries, "deliveries", 0, "wake-latency samples: one delivery at a time, each to the next user")
	fs.DurationVar(&c.Gap, "delivery-gap", 50*time.Millisecond, "pause between deliveries")
	fs.DurationVar(&c.WakeTO, "wake-timeout", 10*time.Second, "longest wait for EXISTS after a delivery")
	fs.BoolVar(&c.Fanout, "fanout", false, "all connections belong to one user; time one delivery until the last connection has it")
	fs.IntVar(&c.Repeats, "fanout-repeats", 5, "deliveries in -fanout mode")
	fs.IntVar(&c.Cycles, "cycles", 0, "keepalive rounds: every connection sends DONE, -cycle-command, IDLE, then waits to hibernate again")
	fs.StringVar(&c.CycleCmd, "cycle-command", "NOOP", "-cycles: the command between DONE and IDLE (Dormouse answers NOOP and a UID FETCH of flags alone asleep; e.g. \"UID FETCH 1 (FLAGS RFC822.SIZE)\" forces a full wake)")
	fs.DurationVar(&c.RehibTO, "rehibernate-timeout", 60*time.Second, "longest wait for connections to hibernate again (with -metrics)")
	fs.DurationVar(&c.IdleWindow, "idle-cpu-window", 3*time.Second, "-cycles: first measure the server's CPU this long without cycles, to subtract")
	fs.StringVar(&c.Upgrade, "upgrade", "", "after the idle measurement, start this command (split on spaces: a `dormouse serve --takeover ...`), time until the server it replaces exits and sample both processes' memory meanwhile; the modes then run against the new process")
	fs.StringVar(&c.UpgradeLog, "upgrade-log", "", "file for the -upgrade command's stderr")
	fs.StringVar(&c.Metrics, "metrics", "", "Prometheus URL of the server (e.g. http://127.0.0.1:9100/metrics)")
	fs.StringVar(&c.JSON, "json", "", "write the results as JSON to this file")
	fs.IntVar(&c.Conc, "concurrency", 32, "connections set up in parallel")
	fs.Float64Var(&c.Rate, "rate", 0, "start at most this many connections per second (0: as fast as -concurrency allows); sets how many sessions are awake at once during the ramp")
	fs.DurationVar(&c.StepTO, "step-timeout", 30*time.Second, "timeout of each protocol step while connecting")
	fs.DurationVar(&c.RampTO, "ramp-timeout", 15*time.Minute, "longest time for opening all connections")
	fs.Float64Var(&c.MemLimit, "mem-limit-gib", 12, "stop opening connections when the machine's used memory grew by more than this")
	fs.BoolVar(&c.Quiet, "quiet", false, "connections send nothing after SELECT INBOX (no IDLE): quiet sessions, which Dormouse hibernates between commands")
	fs.StringVar(&c.AfterSel, "after-select", "", "a command each connection sends after SELECT INBOX (e.g. \"UID SEARCH RETURN (UPDATE COUNT) UNDELETED\": a live search context, RFC 5267, that hibernates with the session)")
	fs.BoolVar(&c.Notify, "notify", false, "after SELECT INBOX, set NOTIFY as interimap --notify does (SELECTED and PERSONAL: message and mailbox events); with -quiet nothing more is sent, as interimap then waits")
	fs.StringVar(&c.NotifyFetch, "notify-fetch", "", "with -notify, fetch attributes for the SELECTED group's MessageNew (e.g. \"(UID FLAGS)\", as bench/fleet's NOTIFY client asks): RFC 5465 5.2")
	fs.BoolVar(&c.Prewarm, "prewarm", false, "only LOGIN and SELECT INBOX once per user, then LOGOUT (builds the server's indexes); no measurement")
	fs.BoolVar(&c.Halfway, "halfway", false, "open the first half, settle and measure, then the second half: also reports what the second half cost per connection")
	fs.BoolVar(&c.Compress, "compress", false, "turn on COMPRESS=DEFLATE after LOGIN (each client write compressed on its own: no 1.2 MB compressor per connection in the tool)")
	fs.StringVar(&c.Label, "label", "", "free text copied into the results")
	fs.BoolVar(&c.TLS, "tls", false, "implicit TLS (-addr is the IMAPS address); the certificate is not checked")
	fs.BoolVar(&c.StartTLS, "starttls", false, "STARTTLS before LOGIN")
	fs.StringVar(&c.TLSMax, "tls-max", "1.3", "highest TLS version offered: 1.2 or 1.3")
	fs.StringVar(&c.XProxy, "xproxy", "", "open each session with XPROXY <this secret> <user> 127.0.0.1, as a proxy does, instead of LOGIN: Dormouse hands it off to sleep at the \"proxy\" (the connection closes) instead of hibernating it")
	fs.IntVar(&c.Upload, "upload", 0, "after SELECT, send a literal of this many bytes (APPEND to a missing mailbox, answered NO: nothing stored), as a client uploading a message would")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.check()
}

// check validates the flags and fills in the derived user count.
func (c *config) check() error {
	switch {
	case c.N < 1 || c.N > maxConns:
		return fmt.Errorf("-n must be 1..%d", maxConns)
	case c.PerUser < 1:
		return errors.New("-per-user must be at least 1")
	case c.Deliveries < 0 || c.Deliveries > maxDeliveries:
		return fmt.Errorf("-deliveries must be 0..%d", maxDeliveries)
	case c.Cycles < 0 || c.Cycles > maxCycles:
		return fmt.Errorf("-cycles must be 0..%d", maxCycles)
	case c.Repeats < 1 || c.Repeats > maxRepeats:
		return fmt.Errorf("-fanout-repeats must be 1..%d", maxRepeats)
	case c.Rate < 0:
		return errors.New("-rate must not be negative")
	case c.Conc < 1 || c.Conc > maxConc:
		return fmt.Errorf("-concurrency must be 1..%d", maxConc)
	case (c.Deliveries > 0 || c.Fanout) && c.MaildirFmt == "" && c.LMTP == "":
		return errors.New("deliveries need -maildir-fmt or -lmtp")
	case c.MaildirFmt != "" && strings.Count(c.MaildirFmt, "%s") != 1:
		return errors.New("-maildir-fmt must hold one %s")
	case c.Fanout && c.Deliveries > 0:
		return errors.New("-fanout and -deliveries are separate runs")
	case c.CycleCmd == "" || strings.ContainsAny(c.CycleCmd, "\r\n"):
		return errors.New("-cycle-command must be one command line")
	case c.TLS && c.StartTLS:
		return errors.New("-tls and -starttls are alternatives")
	case c.TLSMax != "1.2" && c.TLSMax != "1.3":
		return errors.New("-tls-max must be 1.2 or 1.3")
	case c.Upload < 0 || c.Upload > 64<<20:
		return errors.New("-upload must be 0..64 MiB")
	case strings.ContainsAny(c.AfterSel, "\r\n"):
		return errors.New("-after-select must be one command line")
	case c.Quiet && (c.Fanout || c.Deliveries > 0 || c.Cycles > 0):
		return errors.New("-quiet connections hear of nothing and run no cycles: no -fanout, -deliveries or -cycles")
	}
	if c.Prewarm {
		c.PerUser = 1
	}
	need := (c.N + c.PerUser - 1) / c.PerUser
	if c.Fanout {
		need = 1
	}
	if c.Users == 0 {
		c.Users = need
	}
	if !c.Fanout && c.Users < need {
		return fmt.Errorf("-n %d at -per-user %d needs %d users, -users is %d", c.N, c.PerUser, need, c.Users)
	}
	return nil
}

// userName is the name of user number i.
func (c *config) userName(i int) string {
	if !strings.Contains(c.UserFmt, "%") {
		return c.UserFmt
	}
	return fmt.Sprintf(c.UserFmt, i)
}

// userOf is the user number of connection i.
func (c *config) userOf(i int) int {
	if c.Fanout {
		return 0
	}
	return i / c.PerUser
}
