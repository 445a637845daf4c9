package mailstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrOverQuota is returned (wrapped) when a change would take a user past
// a quota limit: IMAP answers NO [OVERQUOTA] (RFC 9208 4.4), LMTP a
// permanent 552 5.2.2 (Dovecot's quota_full_tempfail = no), `dormouse
// deliver` EX_CANTCREAT. It is not ErrNoSpace, which a retry may cure.
var ErrOverQuota = errors.New("quota exceeded")

// QuotaLimits are a user's limits; zero means no limit.
type QuotaLimits struct {
	Storage  int64 // bytes, as the sum of RFC822.SIZE
	Messages int64 // messages in all mailboxes
}

// Unlimited reports whether no limit is set.
func (l QuotaLimits) Unlimited() bool { return l.Storage <= 0 && l.Messages <= 0 }

// QuotaUsage is what a user's mail takes: the sum over every mailbox of
// RFC822.SIZE and of messages, as the index counts them.
type QuotaUsage struct {
	Storage  int64
	Messages int64
}

// Quota is a user's usage with the limits in force.
type Quota struct {
	Usage  QuotaUsage
	Limits QuotaLimits
}

// Exceeds reports whether adding bytes and msgs would go past a limit.
// Nothing added never exceeds, so expunges, flag changes and moves within
// the user always work (RFC 9208 5: a user over quota can still clean up).
func (q Quota) Exceeds(bytes, msgs int64) bool {
	if bytes <= 0 && msgs <= 0 {
		return false
	}
	if q.Limits.Storage > 0 && bytes > 0 && q.Usage.Storage+bytes > q.Limits.Storage {
		return true
	}
	return q.Limits.Messages > 0 && msgs > 0 && q.Usage.Messages+msgs > q.Limits.Messages
}

// QuotaUser is implemented by a User whose store keeps quota usage in its
// index and enforces the limits on every append and copy.
type QuotaUser interface {
	// Quota returns the user's usage and limits.
	Quota(ctx context.Context) (Quota, error)
	// SetQuotaLimits stores limits for the user that replace the
	// configured ones (SETQUOTA); nil removes them, so the configured
	// limits apply again.
	SetQuotaLimits(ctx context.Context, l *QuotaLimits) error
	// DeletedStorage returns the sum of RFC822.SIZE of a mailbox's
	// messages flagged \Deleted: what an EXPUNGE would free (RFC 9208
	// 4.2, STATUS DELETED-STORAGE).
	DeletedStorage(ctx context.Context, mailbox string) (int64, error)
}

// ParseQuotaRules reads quota rules in Dovecot's form, as userdb's
// quota_rule fields and the configuration give them, separated by spaces:
// "*:storage=1G", "*:messages=10000", "*:bytes=1048576", "*:ignore" (no
// limit). A storage value without a unit is in KiB, as in Dovecot; units
// are B, k/K, M, G and T (powers of 1024). Later rules override earlier
// ones. Only the "*" (every mailbox) root is understood; percentages and
// per-mailbox rules are refused.
func ParseQuotaRules(rules string, l QuotaLimits) (QuotaLimits, error) {
	for _, rule := range strings.Fields(rules) {
		box, spec, ok := strings.Cut(rule, ":")
		if !ok || box != "*" {
			return l, fmt.Errorf("quota rule %q: only \"*:\" rules are supported", rule)
		}
		if strings.EqualFold(spec, "ignore") || spec == "" {
			l = QuotaLimits{}
			continue
		}
		for _, kv := range strings.Split(spec, ":") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return l, fmt.Errorf("quota rule %q: expected key=value", rule)
			}
			switch strings.ToLower(k) {
			case "storage":
				n, err := parseQuotaSize(v, 1024)
				if err != nil {
					return l, fmt.Errorf("quota rule %q: %w", rule, err)
				}
				l.Storage = n
			case "bytes":
				n, err := parseQuotaSize(v, 1)
				if err != nil {
					return l, fmt.Errorf("quota rule %q: %w", rule, err)
				}
				l.Storage = n
			case "messages":
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 {
					return l, fmt.Errorf("quota rule %q: bad message count %q", rule, v)
				}
				l.Messages = n
			default:
				return l, fmt.Errorf("quota rule %q: unknown limit %q", rule, k)
			}
		}
	}
	return l, nil
}

// parseQuotaSize reads "1G", "512M", "100k", "10B" or a bare number
// counted in units of unit bytes.
func parseQuotaSize(v string, unit int64) (int64, error) {
	mult := unit
	if v != "" {
		suffixed := true
		switch v[len(v)-1] {
		case 'B', 'b':
			mult = 1
		case 'k', 'K':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		default:
			suffixed = false
		}
		if suffixed {
			v = v[:len(v)-1]
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", v)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q too large", v)
	}
	return n * mult, nil
}
