package main

import (
	"flag"
	"fmt"

	"github.com/dormouse/dormouse/config"
)

// listenFlags are the listen-address flags of serve and proxy (--imap,
// --imaps, --lmtp, --metrics): each given on the command line overrides
// the configuration file's address; one left out does not reset it.
type listenFlags map[string]listenFlag

// listenFlag is one listen-address flag: its value and the address of
// the configuration it sets.
type listenFlag struct {
	value *string
	addr  func(*config.Config) *config.Addr
}

// newListenFlags defines the listen-address flags named (of "imap",
// "imaps", "lmtp", "metrics") on fs, with the defaults' addresses.
func newListenFlags(fs *flag.FlagSet, names ...string) listenFlags {
	d := config.Default()
	known := map[string]struct {
		addr  func(*config.Config) *config.Addr
		usage string
	}{
		"imap":    {func(c *config.Config) *config.Addr { return &c.Listen.IMAP }, "IMAP listen address, with STARTTLS (\"\" = off)"},
		"imaps":   {func(c *config.Config) *config.Addr { return &c.Listen.IMAPS }, "IMAPS (implicit TLS) listen address (\"\" = off)"},
		"lmtp":    {func(c *config.Config) *config.Addr { return &c.Listen.LMTP }, "LMTP listen address (\"\" = off)"},
		"metrics": {func(c *config.Config) *config.Addr { return &c.Listen.Metrics }, "Prometheus metrics HTTP listen address (\"\" = off)"},
	}
	lf := listenFlags{}
	for _, name := range names {
		k := known[name]
		lf[name] = listenFlag{value: fs.String(name, string(*k.addr(&d)), k.usage), addr: k.addr}
	}
	return lf
}

// apply sets cfg's address of every listen flag given on fs's command
// line.
func (lf listenFlags) apply(fs *flag.FlagSet, cfg *config.Config) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		l, ok := lf[f.Name]
		if !ok || err != nil {
			return
		}
		if e := l.addr(cfg).UnmarshalText([]byte(*l.value)); e != nil {
			err = fmt.Errorf("--%s: %w", f.Name, e)
		}
	})
	return err
}
