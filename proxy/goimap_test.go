package proxy

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestGoIMAPThroughProxy drives the proxy with go-imap v2's imapclient,
// a client nobody here wrote, over IMAPS and over STARTTLS: login,
// APPEND, SELECT, FETCH; then it goes quiet, sleeps at the proxy (the
// backend holds no connection), IDLEs asleep, ends the IDLE asleep, and
// the next commands wake it with the session as it was.
func TestGoIMAPThroughProxy(t *testing.T) {
	for _, starttls := range []bool{false, true} {
		name := map[bool]string{false: "imaps", true: "starttls"}[starttls]
		t.Run(name, func(t *testing.T) {
			srv := startBackend(t, 300*time.Millisecond)
			p := startProxy(t, srv.PasswdFile, []string{srv.Addr}, nil)
			opts := &imapclient.Options{TLSConfig: p.ClientTLS}
			var c *imapclient.Client
			var err error
			if starttls {
				c, err = imapclient.DialStartTLS(p.Addr, opts)
			} else {
				c, err = imapclient.DialTLS(p.TLSAddr, opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Login(srv.Alice.Name, srv.Alice.Password).Wait(); err != nil {
				t.Fatalf("login: %v", err)
			}
			if !c.Caps().Has(imap.CapCondStore) {
				t.Fatalf("capabilities after login %v: not the backend's", c.Caps())
			}
			ap := c.Append("INBOX", int64(len(testMessage)), nil)
			ap.Write([]byte(testMessage))
			ap.Close()
			if ad, err := ap.Wait(); err != nil || ad.UID != 1 {
				t.Fatalf("append: %+v %v", ad, err)
			}
			if sel, err := c.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 1 {
				t.Fatalf("select: %+v %v", sel, err)
			}
			idle, err := c.Idle()
			if err != nil {
				t.Fatal(err)
			}
			waitAsleep(t, p, srv, 1)
			if err := idle.Close(); err != nil {
				t.Fatal(err)
			}
			if err := idle.Wait(); err != nil {
				t.Fatalf("IDLE answered asleep: %v", err)
			}
			bs := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
			msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{bs}}).Collect()
			if err != nil || len(msgs) != 1 || string(msgs[0].FindBodySection(bs)) != "Hello Alice\r\n" {
				t.Fatalf("fetch after the wake: %+v %v", msgs, err)
			}
			if err := c.Logout().Wait(); err != nil {
				t.Fatalf("logout: %v", err)
			}
		})
	}
}
