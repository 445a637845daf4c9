package main

import (
	"testing"

	"github.com/dormouse/dormouse/config"
)

// The bench opens thousands of connections from 127.0.0.1; Dormouse's
// per-address guards must be off in the configuration it writes, or the
// idle ramp measures the pre-auth limit instead of the server.
func TestDormouseBenchConf(t *testing.T) {
	cfg, err := config.Parse([]byte(dormouseBenchConf))
	if err != nil {
		t.Fatalf("dormouse.toml for the bench does not parse: %v", err)
	}
	for _, c := range []struct {
		name string
		got  int64
	}{
		{"max_preauth_per_addr", cfg.Limits.MaxPreAuthPerAddr},
		{"login_failures_per_addr", cfg.Limits.LoginFailuresPerAddr},
		{"login_failures_per_user", cfg.Limits.LoginFailuresPerUser},
		{"max_connections_per_user", cfg.Limits.MaxConnectionsPerUser},
		{"max_connections_per_user_addr", cfg.Limits.MaxConnectionsPerUserAddr},
	} {
		if c.got != 0 {
			t.Errorf("limits.%s = %d, want 0 (off)", c.name, c.got)
		}
	}
	if d := config.Default(); cfg.IMAP != d.IMAP || cfg.Listen != d.Listen {
		t.Errorf("bench config changes more than the limits: imap %+v listen %+v", cfg.IMAP, cfg.Listen)
	}
}
