package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/lmtp"
)

// The monitoring files in contrib: the alert rules and the Grafana
// dashboard name only metrics the daemon exports, their PromQL parses, and
// the rules' own unit tests (promtool test rules) pass.
const (
	alertRules     = "../../contrib/prometheus/dormouse-alerts.yml"
	alertRuleTests = "../../contrib/prometheus/dormouse-alerts.test.yml"
	dashboard      = "../../contrib/grafana/dormouse-dashboard.json"
)

func TestMonitoringNamesExportedMetrics(t *testing.T) {
	// What a running daemon exports, and, for the vectors that show only
	// once a label value occurred, what the servers' collectors describe.
	d := startDaemon(t, t.TempDir())
	exported := map[string]bool{}
	export := func(name string, histogram bool) {
		exported[name] = true
		if histogram {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[name+s] = true
			}
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`).FindAllStringSubmatch(scrape(t, d.metric), -1) {
		export(m[1], m[2] == "histogram")
	}
	collectors := slices.Concat(imapserver.NewMetrics().Collectors(), imapserver.NewGuardMetrics().Collectors(), lmtp.NewMetrics().Collectors())
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range collectors {
		descs := make(chan *prometheus.Desc)
		go func() {
			c.Describe(descs)
			close(descs)
		}()
		for desc := range descs {
			if m := fqName.FindStringSubmatch(desc.String()); m != nil {
				export(m[1], true)
			}
		}
	}
	name := regexp.MustCompile(`\b(dormouse|process|go)_[a-z_]+\b`)
	for _, f := range []string{alertRules, dashboard} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		used := name.FindAllString(string(data), -1)
		if len(used) == 0 {
			t.Errorf("%s names no metric", f)
		}
		for _, n := range used {
			if !exported[n] {
				t.Errorf("%s uses %s, which the daemon does not export", filepath.Base(f), n)
			}
		}
	}
}

func TestMonitoringPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("REQUIRE_INTEROP") == "1" {
			t.Fatal("promtool not installed (Debian: prometheus) and REQUIRE_INTEROP=1")
		}
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("check", "rules", alertRules)
	run("test", "rules", alertRuleTests)

	// The dashboard's queries, with Grafana's variables filled in, as
	// recording rules: promtool parses each one.
	data, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	fill := strings.NewReplacer(`$instance`, `.*`, `$job`, `.*`, `$__rate_interval`, `5m`)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	var exprs []string
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			b, _ := json.Marshal(fill.Replace(tg.Expr))
			fmt.Fprintf(&rules, "      - record: panel_%d_%d\n        expr: %s\n", len(exprs), i, b)
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 10 || slices.Contains(exprs, "") {
		t.Fatalf("dashboard has %d queries, some empty", len(exprs))
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run("check", "rules", path)
}
