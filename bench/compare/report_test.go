package main

import (
	"strings"
	"testing"
)

func TestRowAdvantage(t *testing.T) {
	tests := []struct {
		r       row
		want    float64
		verdict string
	}{
		{row{Dovecot: 500, Dormouse: 50, LowerBetter: true, OK: true}, 10, "ahead"},
		{row{Dovecot: 100, Dormouse: 400, LowerBetter: true, OK: true}, 0.25, "**behind**"},
		{row{Dovecot: 100, Dormouse: 400, OK: true}, 4, "ahead"},
		{row{Dovecot: 2, Dormouse: 2, OK: true}, 1, "even"},
	}
	for _, tt := range tests {
		if got := tt.r.advantage(); got != tt.want {
			t.Errorf("%+v: advantage %v, want %v", tt.r, got, tt.want)
		}
		var b strings.Builder
		writeTable(&b, []row{tt.r})
		if !strings.HasSuffix(strings.TrimSpace(b.String()), "| "+tt.verdict+" |") {
			t.Errorf("%+v: table %q, want verdict %s", tt.r, b.String(), tt.verdict)
		}
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%d) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[float64]string{545.4: "545", 12.34: "12.3", 1.234: "1.23", 0.01234: "0.012", 12345.6: "12,346"} {
		if got := fmtVal(in); got != want {
			t.Errorf("fmtVal(%v) = %s, want %s", in, got, want)
		}
	}
}

// TestRowsFromResults checks that a run with every part fills every row.
func TestRowsFromResults(t *testing.T) {
	r := &results{Plan: plan{IdleNs: []int{10, 20}, Clients: 2, SyncMsgs: 5}}
	for _, c := range configs {
		for _, n := range r.Plan.IdleNs {
			x := idleResult{Server: c.server, Hibernate: c.hib, N: n, PssPerConn: 1024, PssTotalKiB: 100}
			x.Wake.N, x.Wake.P50, x.Wake.P99 = 5, 1, 2
			r.Idle = append(r.Idle, x)
		}
	}
	for _, s := range []string{"dovecot", "dormouse"} {
		r.setActive(s, activeResult{PerSecond: 10, CPUMsPerCmd: 1})
		r.setMbsync(s, mbsyncResult{WallSec: 1, CPUSec: 1})
	}
	rs := rows(r)
	if len(rs) != 2*2*2+4+4+2 {
		t.Fatalf("%d rows", len(rs))
	}
	for _, x := range rs {
		if !x.OK {
			t.Errorf("row %q not filled", x.Name)
		}
	}
	delete(r.Mbsync, "dormouse")
	if rs := rows(r); rs[len(rs)-1].OK {
		t.Error("mbsync row filled without Dormouse's figure")
	}
}
