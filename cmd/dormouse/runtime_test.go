package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMemoryLimit: [runtime] memory_limit (or GOMEMLIMIT) becomes the Go
// runtime's soft memory limit, as the daemon's own go_gc_gomemlimit_bytes
// reports it, and the limit that follows the heap (memory_follow, on by
// default) leaves it alone; left out, the limit follows the heap: set
// within the follower's first second; memory_follow = false leaves the
// runtime's own (none).
func TestMemoryLimit(t *testing.T) {
	const none = 1<<63 - 1
	for _, tc := range []struct {
		name, config, env string
		want              float64 // 0: a limit that follows the heap
	}{
		{"set", "[runtime]\nmemory_limit = 268435456\n", "", 268435456},
		{"GOMEMLIMIT", "", "300000000", 300000000},
		{"left out", "", "", 0},
		{"follow off", "[runtime]\nmemory_follow = false\n", "", none},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.env) // the daemon inherits it
			data := t.TempDir()
			if err := os.WriteFile(filepath.Join(data, "dormouse.toml"), []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			d := startDaemon(t, data)
			if tc.want == 0 {
				deadline := time.Now().Add(30 * time.Second)
				for metricValue(t, d.metric, "go_gc_gomemlimit_bytes") == none {
					if time.Now().After(deadline) {
						t.Fatal("no limit after 30 s: it does not follow the heap")
					}
					time.Sleep(100 * time.Millisecond)
				}
				return
			}
			// Past the follower's first tick (1 s), the limit must still be
			// the configured one.
			time.Sleep(2500 * time.Millisecond)
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
