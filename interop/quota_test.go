package interop

import (
	"errors"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/mailstore/maildir"
)

// TestGoIMAPQuota: go-imap v2's client reads the QUOTA capabilities,
// GETQUOTAROOT and GETQUOTA as it parses them, gets OVERQUOTA as a
// response code when an APPEND is refused, and raises the limit with
// SETQUOTA (alice is an administrator here).
func TestGoIMAPQuota(t *testing.T) {
	srv := startServer(t,
		testserver.WithStoreOptions(func(o *maildir.Options) {
			o.QuotaLimits = func(string) mailstore.QuotaLimits { return mailstore.QuotaLimits{Messages: 2, Storage: 1 << 20} }
		}),
		testserver.WithConfig(func(c *imapserver.Config) { c.QuotaAdmins = []string{"alice"} }))
	c := dialGoIMAP(t, srv, "goimap-quota", nil)
	for _, cp := range []imap.Cap{imap.CapQuota, "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE", imap.CapQuotaSet} {
		if !c.Caps().Has(cp) {
			t.Errorf("capability %s missing", cp)
		}
	}
	msg := crlf("Subject: quota\n\nfits\n")
	appendMsg(t, c, "INBOX", msg, nil)
	appendMsg(t, c, "Archive", msg, nil)

	roots, err := c.GetQuotaRoot("INBOX").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || roots[0].Root != "" ||
		roots[0].Resources[imap.QuotaResourceMessage] != (imapclient.QuotaResourceData{Usage: 2, Limit: 2}) ||
		roots[0].Resources[imap.QuotaResourceStorage].Limit != 1024 {
		t.Fatalf("GETQUOTAROOT INBOX: %+v", roots)
	}

	cmd := c.Append("INBOX", int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	cmd.Close()
	_, err = cmd.Wait()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeOverQuota {
		t.Fatalf("APPEND over quota: %v, want NO [OVERQUOTA]", err)
	}

	if err := c.SetQuota("", map[imap.QuotaResourceType]int64{imap.QuotaResourceMessage: 3}).Wait(); err != nil {
		t.Fatalf("SETQUOTA: %v", err)
	}
	q, err := c.GetQuota("").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := q.Resources[imap.QuotaResourceStorage]; ok || q.Resources[imap.QuotaResourceMessage] != (imapclient.QuotaResourceData{Usage: 2, Limit: 3}) {
		t.Fatalf("GETQUOTA after SETQUOTA (MESSAGE 3): %+v", q)
	}
	appendMsg(t, c, "INBOX", msg, nil)
}
