package procmem

import (
	"os"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		in      string
		want    stat
		wantErr bool
	}{{
		in:   "42 (imap) S 7 42 42 0 -1 4194560 100 0 0 0 150 50 3 2 20 0 5 0 1000 1000000 300 18446744073709551615",
		want: stat{comm: "imap", ppid: 7, threads: 5, ticks: 205},
	}, {
		in:   "43 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 1 1",
		want: stat{comm: "a (b) c", ppid: 1, threads: 1, ticks: 2},
	}, {
		in: "44 (short) S 1 2", wantErr: true,
	}, {
		in: "no parens", wantErr: true,
	}}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.in))
		if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseRollup(t *testing.T) {
	in := `55d4c0000000-7ffc8bd9e000 ---p 00000000 00:00 0                          [rollup]
Rss:               15992 kB
Pss:               14615 kB
Pss_Dirty:          3000 kB
Pss_Anon:           3100 kB
Pss_File:          11515 kB
Shared_Clean:          0 kB
`
	got, err := parseRollup(strings.NewReader(in))
	want := rollup{rss: 15992, pss: 14615, pssAnon: 3100, pssFile: 11515}
	if err != nil || got != want {
		t.Errorf("parseRollup = %+v, %v; want %+v", got, err, want)
	}
}

// TestMeasureSelf reads the test process itself: a real /proc.
func TestMeasureSelf(t *testing.T) {
	tr, err := Measure(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if tr.Procs < 1 || tr.PssKiB <= 0 || tr.RssKiB <= 0 || tr.Threads < 1 {
		t.Errorf("Measure(self) = %+v, want a process with memory and threads", tr)
	}
	if _, err := Measure(-5); err == nil {
		t.Error("Measure(-5) succeeded")
	}
}

// TestStatusSelf reads the test process's own status, peak and descriptors.
func TestStatusSelf(t *testing.T) {
	pid := os.Getpid()
	rss, err := StatusKiB(pid, "VmRSS")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if rss <= 0 {
		t.Errorf("VmRSS = %d", rss)
	}
	if _, err := StatusKiB(pid, "NoSuchField"); err == nil {
		t.Error("StatusKiB(NoSuchField) succeeded")
	}
	if err := ResetPeak(pid); err != nil {
		t.Logf("reset peak: %v", err)
	} else if hwm, err := StatusKiB(pid, "VmHWM"); err != nil || hwm <= 0 {
		t.Errorf("VmHWM after reset = %d, %v", hwm, err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	n1, err := FDs(pid)
	f.Close()
	n2, err2 := FDs(pid)
	if err != nil || err2 != nil || n1 != n2+1 {
		t.Errorf("FDs with a file open %d (%v), after closing it %d (%v)", n1, err, n2, err2)
	}
}

func TestParseMapped(t *testing.T) {
	smaps := `7f0000000000-7f0000040000 r--s 00000000 08:01 123 /data/users/a/index.db
Size:                256 kB
Rss:                 112 kB
Pss:                 112 kB
VmFlags: rd sh mr mw me ms sd
7f0000040000-7f0000080000 r--s 00000000 08:01 124 /data/users/b/index.db
Pss:                  40 kB
7f0000080000-7f00000c0000 rw-p 00000000 00:00 0
Pss:                 500 kB
55d000000000-55d000100000 r-xp 00000000 08:01 9 /usr/bin/dormouse
Pss:                 900 kB
`
	m, err := parseMapped(strings.NewReader(smaps), "index.db")
	if err != nil {
		t.Fatal(err)
	}
	if m.Files != 2 || m.PssKiB != 152 {
		t.Fatalf("got %+v, want 2 files, 152 KiB", m)
	}
}
