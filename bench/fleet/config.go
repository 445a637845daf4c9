package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// config is everything the command line sets.
type config struct {
	Addr        string         `json:"addr"`
	TLSAddr     string         `json:"tls_addr"`
	CAFile      string         `json:"ca,omitempty"`
	TLS         *tls.Config    `json:"-"`
	Users       int            `json:"users"`
	FirstUser   int            `json:"first_user"`
	UserFmt     string         `json:"user_fmt"`
	Password    string         `json:"-"`
	Mix         map[string]int `json:"mix"` // kind name → percent of the users
	MixText     string         `json:"-"`
	ServerPID   int            `json:"server_pid"`
	Metrics     string         `json:"metrics,omitempty"`
	MaildirFmt  string         `json:"maildir_fmt,omitempty"`
	IndexSuffix string         `json:"index_suffix,omitempty"`
	Settle      time.Duration  `json:"settle_ns"`
	Hold        time.Duration  `json:"hold_ns"`
	Halfway     bool           `json:"halfway"`
	Deliveries  int            `json:"deliveries"`
	WakeTO      time.Duration  `json:"wake_timeout_ns"`
	Conc        int            `json:"concurrency"`
	Rate        float64        `json:"rate,omitempty"`
	StepTO      time.Duration  `json:"step_timeout_ns"`
	RampTO      time.Duration  `json:"ramp_timeout_ns"`
	JSON        string         `json:"-"`
	Label       string         `json:"label,omitempty"`
	Seed        uint64         `json:"seed"`

	// The clients' habits (kinds.go); times are means, each client
	// draws its own around them.
	NoTLS          bool          `json:"no_tls,omitempty"`      // no kind uses TLS
	NoCompress     bool          `json:"no_compress,omitempty"` // no kind sends COMPRESS
	NoNotify       bool          `json:"no_notify,omitempty"`   // the NOTIFY kind never sends NOTIFY
	ReIdle         time.Duration `json:"reidle_ns"`             // Thunderbird: keepalive answer → IDLE
	DesktopNoop    time.Duration `json:"desktop_noop_ns"`
	PhoneReconnect time.Duration `json:"phone_reconnect_ns"`
	SyncEvery      time.Duration `json:"sync_every_ns"`
	WebmailEvery   time.Duration `json:"webmail_every_ns"`
}

// defaultMix is the fleet of the README ("The mix").
const defaultMix = "thunderbird=25,desktop=15,phone=45,sync=5,notify=5,webmail=5"

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("fleet", flag.ContinueOnError) }

// parseFlags parses the command line into a checked config.
func parseFlags(fs *flag.FlagSet, args []string) (*config, error) {
	c := &config{}
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:1143", "plain IMAP address")
	fs.StringVar(&c.TLSAddr, "tls-addr", "", "implicit-TLS IMAP address (default: -addr, TLS off with -no-tls)")
	fs.StringVar(&c.CAFile, "ca", "", "CA certificate (PEM) that signed the server's certificate (Dormouse: DATA/tls/ca.crt)")
	fs.IntVar(&c.Users, "users", 100, "users in the fleet (each is one client of one kind)")
	fs.IntVar(&c.FirstUser, "first-user", 0, "number of the first user")
	fs.StringVar(&c.UserFmt, "user-fmt", "user%04d", "user name: fmt verb applied to the user number (no verb: one fixed name)")
	fs.StringVar(&c.Password, "password", "pass", "password of every user")
	fs.StringVar(&c.MixText, "mix", defaultMix, "percent of the users per kind: thunderbird, desktop, phone, sync, notify, webmail")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "server process: it and its descendants are measured (0: no memory figures)")
	fs.StringVar(&c.Metrics, "metrics", "", "Prometheus URL of the server")
	fs.StringVar(&c.MaildirFmt, "maildir-fmt", "", "a user's Maildir, %s = user name, for deliveries by rename into new/")
	fs.StringVar(&c.IndexSuffix, "index-suffix", "index.db", "with -server-pid: the server's files mapped with this name ending are counted as user indexes (Dormouse: users/NAME/index.db)")
	fs.DurationVar(&c.Settle, "settle", 20*time.Second, "wait after the ramp before measuring")
	fs.DurationVar(&c.Hold, "hold", 0, "after the measurement, run this long (keepalives, polls, reconnects, webmail) and count the wakes")
	fs.BoolVar(&c.Halfway, "halfway", false, "ramp half the users, settle, measure, then the rest: reports the second half's memory per connection")
	fs.IntVar(&c.Deliveries, "deliveries", 0, "wake-latency samples: deliveries one at a time, round-robin over the kinds that wait for mail")
	fs.DurationVar(&c.WakeTO, "wake-timeout", 10*time.Second, "longest wait for a delivery to be seen")
	fs.IntVar(&c.Conc, "concurrency", 16, "clients set up in parallel")
	fs.Float64Var(&c.Rate, "rate", 0, "start at most this many clients a second (0: as fast as -concurrency allows)")
	fs.DurationVar(&c.StepTO, "step-timeout", 30*time.Second, "timeout of each command")
	fs.DurationVar(&c.RampTO, "ramp-timeout", 15*time.Minute, "longest time for starting all clients")
	fs.StringVar(&c.JSON, "json", "", "write the results as JSON to this file")
	fs.StringVar(&c.Label, "label", "", "free text copied into the results")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the clients' random draws (a run is reproducible up to the server's timing)")
	fs.BoolVar(&c.NoTLS, "no-tls", false, "no client uses TLS (the kinds that would, say so in the report)")
	fs.BoolVar(&c.NoCompress, "no-compress", false, "no client sends COMPRESS DEFLATE, even when offered")
	fs.BoolVar(&c.NoNotify, "no-notify", false, "the NOTIFY kind does not send NOTIFY even when offered (it is skipped)")
	fs.DurationVar(&c.ReIdle, "reidle", 2*time.Second, "Thunderbird: from its keepalive answer to its next IDLE")
	fs.DurationVar(&c.DesktopNoop, "desktop-noop", 5*time.Minute, "desktop: NOOP on each quiet folder connection about this often")
	fs.DurationVar(&c.PhoneReconnect, "phone-reconnect", 10*time.Minute, "phone: drops and reopens its connection about this often")
	fs.DurationVar(&c.SyncEvery, "sync-every", 5*time.Minute, "sync tool: one sync about this often")
	fs.DurationVar(&c.WebmailEvery, "webmail-every", time.Minute, "webmail: one short session (a page view) about this often")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.check()
}

func (c *config) check() error {
	var err error
	if c.Mix, err = parseMix(c.MixText); err != nil {
		return err
	}
	switch {
	case c.Users < 1 || c.Users > 100_000:
		return errors.New("-users must be 1..100000")
	case c.Conc < 1 || c.Conc > 1024:
		return errors.New("-concurrency must be 1..1024")
	case c.Deliveries < 0 || c.Deliveries > 100_000:
		return errors.New("-deliveries must be 0..100000")
	case c.Deliveries > 0 && c.MaildirFmt == "":
		return errors.New("-deliveries needs -maildir-fmt")
	case c.ReIdle < 0 || c.DesktopNoop <= 0 || c.PhoneReconnect <= 0 || c.SyncEvery <= 0 || c.WebmailEvery <= 0:
		return errors.New("the habit intervals must be positive")
	}
	if c.TLSAddr == "" {
		c.TLSAddr = c.Addr
	}
	if !c.NoTLS && c.TLS == nil {
		c.TLS = &tls.Config{ServerName: "localhost"}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return fmt.Errorf("-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("-ca %s: no certificate", c.CAFile)
			}
			c.TLS.RootCAs = pool
		}
	}
	return nil
}

// parseMix reads "kind=percent,..."; the percents must add up to 100.
func parseMix(s string) (map[string]int, error) {
	mix := map[string]int{}
	sum := 0
	for _, part := range strings.Split(s, ",") {
		name, pct, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(pct)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("-mix: bad part %q", part)
		}
		if _, known := lookupKind(name); !known {
			return nil, fmt.Errorf("-mix: unknown kind %q (known: %s)", name, strings.Join(kindNames(), ", "))
		}
		mix[name] += n
		sum += n
	}
	if sum != 100 {
		return nil, fmt.Errorf("-mix: the percents add up to %d, not 100", sum)
	}
	return mix, nil
}

func kindNames() []string {
	var names []string
	for _, k := range allKinds() {
		names = append(names, k.name)
	}
	sort.Strings(names)
	return names
}

// user returns the name of user i.
func (c *config) user(i int) string {
	if !strings.Contains(c.UserFmt, "%") {
		return c.UserFmt
	}
	return fmt.Sprintf(c.UserFmt, c.FirstUser+i)
}
