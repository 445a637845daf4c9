package maildir

import (
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// BenchmarkAppendQuota appends one small message to the 100,000-message
// mailbox with and without a quota limit (the check sums the counters of
// the user's six mailboxes in the append's transaction), durably and
// without fsync (where the check's share shows).
func BenchmarkAppendQuota(b *testing.B) {
	limited := func(string) mailstore.QuotaLimits { return mailstore.QuotaLimits{Storage: 1 << 40, Messages: 1 << 30} }
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"durable/none", Options{}},
		{"durable/quota", Options{QuotaLimits: limited}},
		{"nosync/none", Options{NoSync: true}},
		{"nosync/quota", Options{NoSync: true, QuotaLimits: limited}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, m := bigMailboxOpts(b, bc.opts)
			benchAppend(b, m)
		})
	}
}
