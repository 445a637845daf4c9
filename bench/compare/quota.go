package main

import (
	"fmt"
	"strings"

	"github.com/dormouse/dormouse/mailstore"
)

// -quota RULE turns quota on in both servers with the same Dovecot
// quota_rule, so that the active workload's APPEND (and COPY) pays for the
// check: Dormouse with [quota] rule (usage from its index's mailbox
// counters), Dovecot with its quota plugin and the count backend (usage
// from its index, vsizes on, as the count backend requires), without
// imap_quota: GETQUOTA is not part of the workload.

// checkQuotaRule refuses a rule Dormouse would not accept, before anything
// starts.
func checkQuotaRule(rule string) error {
	if strings.ContainsAny(rule, "\n\"{}") {
		return fmt.Errorf("-quota %q: one rule line, no quotes or braces", rule)
	}
	if _, err := mailstore.ParseQuotaRules(rule, mailstore.QuotaLimits{}); err != nil {
		return fmt.Errorf("-quota: %w", err)
	}
	return nil
}

// dormouseQuotaConf is the [quota] section for dormouse.toml ("" without
// a rule).
func dormouseQuotaConf(rule string) string {
	if rule == "" {
		return ""
	}
	return fmt.Sprintf("\n[quota]\nrule = %q\n", rule)
}

// dovecotQuotaConf is the dovecot.conf lines for the same rule (nil
// without one); Dovecot takes several rules as quota_rule, quota_rule2...
func dovecotQuotaConf(rule string) []string {
	if rule == "" {
		return nil
	}
	lines := []string{"mail_plugins = $mail_plugins quota", "plugin {", "  quota = count:User quota", "  quota_vsizes = yes"}
	for i, r := range strings.Fields(rule) {
		key := "quota_rule"
		if i > 0 {
			key = fmt.Sprintf("quota_rule%d", i+1)
		}
		lines = append(lines, fmt.Sprintf("  %s = %s", key, r))
	}
	return append(lines, "}")
}
