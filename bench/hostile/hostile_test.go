package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/bench/internal/stats"
)

// buildOnce builds cmd/dormouse for a test.
func buildOnce(t *testing.T) (bin, dir string) {
	t.Helper()
	dir = t.TempDir()
	bin, err := buildDormouse(dir)
	if err != nil {
		t.Fatal(err)
	}
	return bin, dir
}

// TestReproCheap runs two cheap reproductions (2: unauthenticated APPEND
// {n+}; 9: duplicate LMTP recipients and user-name case) at a small scale
// against a freshly built server and checks that they report numbers, not
// that the server is fixed.
func TestReproCheap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin, dir := buildOnce(t)
	cfg := &reproConfig{
		server:       serverOpts{bin: bin, hibernateAfter: 30 * time.Second, loginTimeout: 10 * time.Second},
		dir:          dir,
		only:         map[int]bool{2: true, 9: true},
		timeout:      30 * time.Second,
		preauthConns: 2, preauthMiB: 2, rcpts: 50,
	}
	var log bytes.Buffer
	rows := runRepro(context.Background(), cfg, &log)
	var table bytes.Buffer
	printTable(&table, rows)
	t.Logf("\n%s", table.String())
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2\n%s", len(rows), log.String())
	}
	for _, r := range rows {
		if r.Err != "" || r.Value == "" || r.Value == "error" {
			t.Errorf("finding %d: value %q, error %q", r.N, r.Value, r.Err)
		}
	}
	p2, p9 := rows[0].Data, rows[1].Data
	if sent, _ := p2["sent_bytes"].(int64); sent <= 0 {
		t.Errorf("finding 2: sent %v bytes", p2["sent_bytes"])
	}
	if _, ok := p2["spool_peak_bytes"].(int64); !ok {
		t.Errorf("finding 2: no spool peak in %v", p2)
	}
	if a, _ := p2["answer"].(string); a == "" {
		t.Error("finding 2: no answer recorded")
	}
	if n, _ := p9["copies"].(int); n < 1 || n > cfg.rcpts {
		t.Errorf("finding 9: %v copies, want 1 to %d", p9["copies"], cfg.rcpts)
	}
	if s, _ := p9["user_add_case"].(string); !strings.Contains(s, "ALICE") {
		t.Errorf("finding 9: user add outcome %q", s)
	}
	if !strings.Contains(table.String(), "| 2 | disk before login |") {
		t.Errorf("table lacks finding 2's row:\n%s", table.String())
	}
}

// TestSoakShort runs a 10-second soak with hostile clients at a small
// scale and checks that it measured the well-behaved operations, the
// wakes, the server and the attacks, and judged the criteria.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin, dir := buildOnce(t)
	cfg := &soakConfig{
		duration: 10 * time.Second, warmup: 3 * time.Second, every: 5 * time.Second,
		think: 100 * time.Millisecond, deliverEvery: 300 * time.Millisecond, hibernateAfter: time.Second,
		timeout: 30 * time.Second, clients: 3, idlers: 4, users: 2,
		hostile: true, hostileRate: 1, hostileInFlight: 2, hostileTimeout: 3 * time.Second,
		floodFrom: "127.0.0.2", hostileFrom: "127.0.0.3", guessFrom: "127.0.0.4",
		floodConns: 20, preauthMiB: 1, envMsgs: 2, searchKeys: 50, guesses: 2, madeUp: 2, rcpts: 20,
		maxRSSMiB: 4096, p99Floor: time.Millisecond,
	}
	var out bytes.Buffer
	res, err := runSoak(context.Background(), cfg, commonFlags{bin: bin, dir: dir}, &out)
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"login", "select", "append", "lmtp", "wake"} {
		if res.Latency[k].N == 0 {
			t.Errorf("no %s latency measured", k)
		}
	}
	if res.Acked == 0 || res.CheckErr != "" {
		t.Errorf("acknowledged %d, check error %q", res.Acked, res.CheckErr)
	}
	if sum(res.Attacks) == 0 {
		t.Error("no attack made")
	}
	if res.RSSMaxKiB <= 0 || res.FDsMax <= 0 {
		t.Errorf("server RSS max %d KiB, descriptors max %d", res.RSSMaxKiB, res.FDsMax)
	}
	if len(res.Criteria) != 5 || !strings.Contains(out.String(), "soak: ") {
		t.Errorf("criteria %v", res.Criteria)
	}
}

// TestCriteria feeds the judge runs that break each criterion: a judge
// that cannot fail proves nothing.
func TestCriteria(t *testing.T) {
	cfg := &soakConfig{maxRSSMiB: 100, p99Floor: time.Millisecond}
	base := &soakResult{Latency: map[string]stats.Dist{"fetch": {N: 10, P99: 10}, "login": {N: 10, P99: 0.2}}}
	good := func() *soakResult {
		return &soakResult{Latency: map[string]stats.Dist{"fetch": {N: 10, P99: 19}, "login": {N: 10, P99: 1.9}},
			RSSMaxKiB: 50 << 10, Acked: 10}
	}
	tests := []struct {
		name   string
		change func(r *soakResult)
		fail   string // the criterion that must fail; "" for none
	}{
		{"all good", func(*soakResult) {}, ""},
		{"p99 over 2×", func(r *soakResult) { r.Latency["fetch"] = stats.Dist{N: 10, P99: 21} }, "p99 within 2× of the baseline"},
		{"sub-ms p99 over the floor", func(r *soakResult) { r.Latency["login"] = stats.Dist{N: 10, P99: 2.1} }, "p99 within 2× of the baseline"},
		{"RSS", func(r *soakResult) { r.RSSMaxKiB = 101 << 10 }, "server RSS under 100 MiB"},
		{"crash", func(r *soakResult) { r.Crashes = 1 }, "no crash"},
		{"lost", func(r *soakResult) { r.Lost = []string{"user0/INBOX/lmtp-1"} }, "nothing lost"},
		{"check failed", func(r *soakResult) { r.CheckErr = "cannot log in" }, "nothing lost"},
		{"errors", func(r *soakResult) { r.Errors = map[string]int{"login": 1} }, "no well-behaved errors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.change(r)
			for _, c := range criteria(cfg, r, base) {
				if want := c.Name != tt.fail; c.Pass != want {
					t.Errorf("%s: pass %v, want %v (%s)", c.Name, c.Pass, want, c.Detail)
				}
			}
		})
	}
}

// TestSoakAttackersApart runs the tool as a command, whose hostile clients
// run in a process of their own: their attacks reach the server and come
// back in the result.
func TestSoakAttackersApart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server and the tool")
	}
	bin, dir := buildOnce(t)
	tool := filepath.Join(dir, "hostile")
	if out, err := exec.Command("go", "build", "-o", tool, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	resPath := filepath.Join(dir, "soak.json")
	cmd := exec.Command(tool, "soak", "-bin", bin, "-dir", dir, "-json", resPath,
		"-duration", "8s", "-warmup", "2s", "-every", "8s", "-clients", "2", "-idlers", "2", "-users", "2",
		"-hostile-rate", "2", "-hostile-timeout", "3s", "-flood", "20", "-preauth-mib", "1", "-env-msgs", "2",
		"-search-keys", "50", "-guesses", "2", "-made-up", "2", "-rcpts", "20", "-max-rss", "4096")
	out, err := cmd.CombinedOutput()
	t.Logf("\n%s", out)
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		t.Fatalf("hostile soak: %v", err) // 1 is a failed criterion, not a broken run
	}
	b, err := os.ReadFile(resPath)
	if err != nil {
		t.Fatal(err)
	}
	var res soakResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if e, ok := res.FirstErrors["hostile process"]; ok {
		t.Fatalf("the attackers' process failed: %s", e)
	}
	done := 0
	for k, n := range res.Attacks {
		if k != "skipped (all busy)" {
			done += n
		}
	}
	if done < 5 {
		t.Fatalf("%d attacks came back from the attackers' process (%v), want at least 5", done, res.Attacks)
	}
}
