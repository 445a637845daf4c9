package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/config"
)

// TestQuotaConf: -quota gives Dormouse a [quota] section its config
// accepts and Dovecot the quota plugin with the same rules, which
// doveconf (when installed) accepts; a rule Dormouse refuses is refused
// before anything starts.
func TestQuotaConf(t *testing.T) {
	const rule = "*:storage=100G *:messages=1000000"
	cfg, err := config.Parse([]byte(dormouseBenchConf + dormouseQuotaConf(rule)))
	if err != nil || cfg.Quota.Rule != rule {
		t.Fatalf("dormouse.toml with -quota: %+v, %v", cfg.Quota, err)
	}
	if dormouseQuotaConf("") != "" || dovecotQuotaConf("") != nil {
		t.Error("quota settings without -quota")
	}
	for _, bad := range []string{"*:storage=10%", "Trash:storage=1G", `*:storage=1G"`} {
		if checkQuotaRule(bad) == nil {
			t.Errorf("-quota %q accepted", bad)
		}
	}
	conf := renderDovecotConf(t.TempDir(), 22400, "nobody", "0", dovecotQuotaConf(rule))
	for _, want := range []string{"quota = count:User quota", "quota_rule = *:storage=100G", "quota_rule2 = *:messages=1000000"} {
		if !strings.Contains(conf, want) {
			t.Errorf("dovecot.conf lacks %q", want)
		}
	}
	doveconf, err := exec.LookPath("doveconf")
	if err != nil {
		t.Skip("doveconf not installed")
	}
	path := filepath.Join(t.TempDir(), "dovecot.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(doveconf, "-c", path, "-h", "plugin/quota_rule2").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "*:messages=1000000" {
		t.Errorf("doveconf: %v: %s", err, out)
	}
}
