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
