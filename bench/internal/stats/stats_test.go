package stats

import (
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		name     string
		in       []time.Duration
		timeouts int
		want     Dist
	}{
		{"empty", nil, 2, Dist{Timeouts: 2}},
		{"one", []time.Duration{1500 * time.Microsecond}, 0, Dist{N: 1, Min: 1.5, P50: 1.5, P90: 1.5, P99: 1.5, Max: 1.5, Mean: 1.5}},
		{"1..100 ms", hundred, 0, Dist{N: 100, Min: 1, P50: 50, P90: 90, P99: 99, Max: 100, Mean: 50.5}},
	}
	for _, tt := range tests {
		if got := New(tt.in, tt.timeouts); got != tt.want {
			t.Errorf("%s: New = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if hundred[0] != 100*time.Millisecond {
		t.Error("New sorted its input in place")
	}
}
