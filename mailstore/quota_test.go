package mailstore

import "testing"

func TestParseQuotaRules(t *testing.T) {
	tests := []struct {
		rules string
		want  QuotaLimits
		err   bool
	}{
		{"", QuotaLimits{}, false},
		{"*:storage=1G", QuotaLimits{Storage: 1 << 30}, false},
		{"*:storage=1024", QuotaLimits{Storage: 1 << 20}, false}, // KiB, as Dovecot
		{"*:storage=10M *:messages=500", QuotaLimits{Storage: 10 << 20, Messages: 500}, false},
		{"*:storage=2k:messages=7", QuotaLimits{Storage: 2048, Messages: 7}, false},
		{"*:bytes=1000", QuotaLimits{Storage: 1000}, false},
		{"*:bytes=1k", QuotaLimits{Storage: 1024}, false},
		{"*:storage=100B", QuotaLimits{Storage: 100}, false},
		{"*:storage=1G *:ignore", QuotaLimits{}, false},
		{"*:storage=1T", QuotaLimits{Storage: 1 << 40}, false},
		{"*:storage=10%", QuotaLimits{}, true},
		{"Trash:storage=1G", QuotaLimits{}, true},
		{"*:storage=-1", QuotaLimits{}, true},
		{"*:storage=99999999999999999G", QuotaLimits{}, true},
		{"*:messages=x", QuotaLimits{}, true},
		{"*:flags=1", QuotaLimits{}, true},
		{"storage=1G", QuotaLimits{}, true},
	}
	for _, tt := range tests {
		got, err := ParseQuotaRules(tt.rules, QuotaLimits{})
		if (err != nil) != tt.err || (err == nil && got != tt.want) {
			t.Errorf("ParseQuotaRules(%q) = %+v, %v; want %+v, error %v", tt.rules, got, err, tt.want, tt.err)
		}
	}
}

func TestQuotaExceeds(t *testing.T) {
	q := Quota{Usage: QuotaUsage{Storage: 900, Messages: 9}, Limits: QuotaLimits{Storage: 1000, Messages: 10}}
	tests := []struct {
		bytes, msgs int64
		want        bool
	}{
		{100, 1, false},
		{101, 1, true},
		{50, 2, true},
		{0, 0, false},     // an expunge or a move
		{-500, -5, false}, // freeing space
	}
	for _, tt := range tests {
		if got := q.Exceeds(tt.bytes, tt.msgs); got != tt.want {
			t.Errorf("Exceeds(%d, %d) = %v, want %v", tt.bytes, tt.msgs, got, tt.want)
		}
	}
	if (Quota{Usage: QuotaUsage{Storage: 1 << 40}}).Exceeds(1<<40, 1) {
		t.Error("no limits exceeded")
	}
}
