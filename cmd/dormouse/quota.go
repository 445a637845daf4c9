package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/config"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/mailstore/maildir"
)

// quotaLimits returns the store's Options.QuotaLimits: the configured
// rule, replaced for a user whose passwd-file line has quota_rule (or
// userdb_quota_rule) extra fields, as Dovecot's userdb overrides its
// quota_rule setting. A user's rule that does not parse is logged and
// the configured rule applies.
func quotaLimits(cfg config.Quota, users *auth.PasswdFile, log *slog.Logger) func(string) mailstore.QuotaLimits {
	base, _ := mailstore.ParseQuotaRules(cfg.Rule, mailstore.QuotaLimits{}) // checked by config
	return func(user string) mailstore.QuotaLimits {
		rules, ok, err := users.UserField(user, "quota_rule")
		if err != nil || !ok || len(rules) == 0 {
			return base
		}
		l, err := mailstore.ParseQuotaRules(strings.Join(rules, " "), mailstore.QuotaLimits{})
		if err != nil {
			log.Warn("passwd-file quota rule ignored", "user", user, "err", err)
			return base
		}
		return l
	}
}

// userQuota reads a user's quota from the store.
func userQuota(store mailstore.Store, user string) (mailstore.Quota, error) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	u, err := store.User(ctx, user)
	if err != nil {
		return mailstore.Quota{}, err
	}
	defer u.Close()
	qu, ok := u.(mailstore.QuotaUser)
	if !ok {
		return mailstore.Quota{}, errors.New("the mail store keeps no quota")
	}
	return qu.Quota(ctx)
}

// deliverQuota returns a user's quota for `dormouse deliver`: from the
// running server (whose index it cannot open, since the server holds it)
// over the admin socket, or, with no server running, read from the index
// and the Maildir without changing them (maildir.ReadQuota).
func deliverQuota(cfg config.Config, l layout, users *auth.PasswdFile, user string) (mailstore.Quota, error) {
	r, err := adminRequest(l.data, "quota "+user)
	if err == nil && r.Quota != nil {
		return *r.Quota, nil
	}
	if err != nil && !errors.Is(err, errNoServer) {
		return mailstore.Quota{}, err
	}
	return maildir.ReadQuota(l.mail, user, quotaLimits(cfg.Quota, users, slog.New(slog.DiscardHandler)))
}

// checkDeliverQuota fails with EX_CANTCREAT, as dovecot-lda does under
// Dovecot's default quota_full_tempfail = no, when a message of size
// bytes would take the user past a limit. The check and the delivery are
// not one transaction: two deliveries racing may both pass, as with
// Dovecot's maildir quota.
func checkDeliverQuota(q mailstore.Quota, size int64) error {
	if q.Exceeds(size, 1) {
		return withCode(exitCantCreate, fmt.Errorf("%w: mailbox is full (%d of %d bytes, %d of %d messages)",
			mailstore.ErrOverQuota, q.Usage.Storage, q.Limits.Storage, q.Usage.Messages, q.Limits.Messages))
	}
	return nil
}
