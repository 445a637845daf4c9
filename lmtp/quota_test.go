package lmtp

import (
	"context"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// TestOverQuota: a recipient whose quota a message would exceed gets a
// permanent 552 5.2.2 (Dovecot's default, quota_full_tempfail = no, which
// Postfix bounces at once rather than retrying for days), while the other
// recipients of the same transaction get their 250 and their copy.
func TestOverQuota(t *testing.T) {
	f := start(t, users{"alice": true, "bob": true}, nil)
	u, err := f.store.User(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.(mailstore.QuotaUser).SetQuotaLimits(context.Background(), &mailstore.QuotaLimits{Messages: 1}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"250 2.0.0", "552 5.2.2"} {
		c := dialLMTP(t, f.addr)
		c.cmd("LHLO mta.test", "250")
		c.cmd("MAIL FROM:<sender@example.org>", "250")
		c.cmd("RCPT TO:<alice@example.org>", "250")
		c.cmd("RCPT TO:<bob@example.org>", "250")
		replies := c.data(msg, 2)
		if !strings.HasPrefix(replies[0], want) || !strings.HasPrefix(replies[1], "250") {
			t.Fatalf("delivery %d: replies %q, want %s for alice and 250 for bob", i+1, replies, want)
		}
	}
	if n := len(f.inbox(t, "alice")); n != 1 {
		t.Errorf("alice has %d messages, want 1", n)
	}
	if n := len(f.inbox(t, "bob")); n != 2 {
		t.Errorf("bob has %d messages, want 2", n)
	}
}
