package imapserver

import (
	"testing"
	"time"
)

// TestLimitsWithDefaults: zero is the default everywhere; a negative
// value turns off the limits and pauses that can be off and is the
// default for sizes and timeouts that cannot; a positive one stays.
func TestLimitsWithDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Limits
		want func(Limits) bool
	}{
		{"zero", Limits{}, func(l Limits) bool {
			return l.MaxLine == DefaultMaxLine && l.IdleTimeout == DefaultIdleTimeout &&
				l.MaxConnsPerUser == DefaultMaxConnsPerUser && l.LoginPenaltyMax == DefaultLoginPenaltyMax &&
				l.MaxMetadataSize == DefaultMaxMetadataSize && l.FailedLoginDelay == DefaultFailedLoginDelay
		}},
		{"negative", Limits{MaxLine: -1, IdleTimeout: -1, MaxConnsPerUser: -1, LoginPenaltyMax: -1, MaxMetadataSize: -1, FailedLoginDelay: -1}, func(l Limits) bool {
			return l.MaxLine == DefaultMaxLine && l.IdleTimeout == DefaultIdleTimeout &&
				l.MaxConnsPerUser == 0 && l.LoginPenaltyMax == 0 && l.MaxMetadataSize == 0 && l.FailedLoginDelay == 0
		}},
		{"set", Limits{MaxLine: 2048, IdleTimeout: time.Hour, MaxConnsPerUser: 3, LoginPenaltyMax: time.Second, MaxMetadataSize: 10, FailedLoginDelay: time.Millisecond}, func(l Limits) bool {
			return l.MaxLine == 2048 && l.IdleTimeout == time.Hour && l.MaxConnsPerUser == 3 &&
				l.LoginPenaltyMax == time.Second && l.MaxMetadataSize == 10 && l.FailedLoginDelay == time.Millisecond
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.withDefaults(); !tc.want(got) {
				t.Errorf("withDefaults(%+v) = %+v", tc.in, got)
			}
		})
	}
}
