package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestWriteReport checks that one run gives the Markdown, the JSON with
// the table, and the three plots, named after the run's date and mode.
func TestWriteReport(t *testing.T) {
	r := &results{Started: time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC), Plan: plan{Mode: "quick", IdleNs: []int{10}, Clients: 1, SyncMsgs: 5}}
	for _, c := range configs {
		x := idleResult{Server: c.server, Hibernate: c.hib, N: 10, PssPerConn: 2048, PssTotalKiB: 100}
		x.Wake.N, x.Wake.P50, x.Wake.P99, x.WakeSamples = 3, 1, 2, []float64{1, 1.5, 2}
		r.Idle = append(r.Idle, x)
	}
	r.setActive("dovecot", activeResult{PerSecond: 10, SamplesMs: []float64{1, 2}})
	r.setActive("dormouse", activeResult{PerSecond: 20, SamplesMs: []float64{1, 3}})
	dir := t.TempDir()
	var stdout strings.Builder
	if err := writeReport(r, dir, &stdout); err != nil {
		t.Fatal(err)
	}
	stem := filepath.Join(dir, "compare-2026-11-29-quick")
	for _, suffix := range []string{".md", ".json", "-memory.svg", "-wake-cdf.svg", "-active-cdf.svg"} {
		if _, err := os.Stat(stem + suffix); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	md, err := os.ReadFile(stem + ".md")
	if err != nil {
		t.Fatal(err)
	}
	if string(md) != stdout.String() {
		t.Error("stdout differs from the Markdown file")
	}
	for _, want := range []string{"| figure | unit | Dovecot | Dormouse | Dormouse ahead by |", "| Active workload, 1 clients: commands per second | cmd/s | 10.0 | 20.0 | 2.00× | ahead |", "compare-2026-11-29-quick-memory.svg"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	var j struct {
		Table []row `json:"table"`
	}
	b, err := os.ReadFile(stem + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &j); err != nil || len(j.Table) != len(rows(r)) {
		t.Errorf("JSON table: %d rows, err %v", len(j.Table), err)
	}
}

// TestFillIdle reads the keys of bench/idle's JSON this tool depends on.
func TestFillIdle(t *testing.T) {
	const js = `{"ramp":{"open":10,"errors":1,"per_second":50},
"baseline":{"tree":{"procs":1,"pss_kib":100}},
"idle":{"tree":{"procs":3,"pss_kib":300,"by_comm":{"imap":{"count":2,"pss_kib":150},"dovecot":{"count":1,"pss_kib":150}}},"metrics":{"hibernated":10}},
"per_conn":{"pss_bytes":20480,"pss_if_returned_bytes":1024},
"wake":{"deliveries":2,"failed_deliveries":0,"all_conns_of_user":{"n":2,"p50_ms":1.5,"p99_ms":2},"samples_ms":[1,2]}}`
	var rep idleReport
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	var got idleResult
	fillIdle(&got, rep)
	if got.Open != 10 || got.Errors != 1 || got.PssPerConn != 20480 || got.PssIfReturned != 1024 ||
		got.ProcsBefore != 1 || got.ProcsAfter != 3 || got.PssTotalKiB != 300 ||
		got.ByComm != "imap 2, dovecot 1" || got.Hibernated == nil || *got.Hibernated != 10 ||
		got.Wake.N != 2 || got.Wake.P50 != 1.5 || len(got.WakeSamples) != 2 {
		t.Errorf("fillIdle = %+v", got)
	}
}
