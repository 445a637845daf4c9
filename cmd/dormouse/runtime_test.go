package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMemoryLimit: [runtime] memory_limit becomes the Go runtime's soft
// memory limit, as the daemon's own go_gc_gomemlimit_bytes reports it;
// left out, the runtime keeps its own (no limit).
func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         float64
	}{
		{"set", "[runtime]\nmemory_limit = 268435456\n", 268435456},
		{"left out", "", 1<<63 - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			d := startDaemon(t, data)
			if got := metricValue(t, d.metric, "go_gc_gomemlimit_bytes"); got != tc.want {
				t.Errorf("go_gc_gomemlimit_bytes = %g, want %g", got, tc.want)
			}
		})
	}
}

// TestGCPercent: [runtime] gc_percent becomes the Go runtime's GOGC, as
// the daemon's go_gc_gogc_percent reports it, over GOGC in its
// environment; left out, the runtime keeps its own (GOGC, or 100).
func TestGCPercent(t *testing.T) {
	for _, tc := range []struct {
		name, config, env string
		want              float64
	}{
		{"set", "[runtime]\ngc_percent = 30\n", "", 30},
		{"left out", "", "", 100},
		{"left out, GOGC in the environment", "", "80", 80},
		{"set, GOGC in the environment", "[runtime]\ngc_percent = 30\n", "80", 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.env) // the daemon inherits it
			data := t.TempDir()
			if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			d := startDaemon(t, data)
			if got := metricValue(t, d.metric, "go_gc_gogc_percent"); got != tc.want {
				t.Errorf("go_gc_gogc_percent = %g, want %g", got, tc.want)
			}
		})
	}
}
