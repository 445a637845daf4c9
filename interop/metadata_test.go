package interop

import (
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestGoIMAPMetadata: go-imap v2's client sets, reads (with DEPTH and
// MAXSIZE, which it sends after the mailbox) and removes METADATA entries
// on the server and on a mailbox.
func TestGoIMAPMetadata(t *testing.T) {
	srv := startServer(t)
	c := dialGoIMAP(t, srv, "goimap-metadata", nil)
	for _, cp := range []imap.Cap{imap.CapMetadata, imap.CapMetadataServer} {
		if !c.Caps().Has(cp) {
			t.Errorf("capability %s missing", cp)
		}
	}
	val := func(s string) *[]byte { b := []byte(s); return &b }
	if err := c.SetMetadata("", map[string]*[]byte{"/private/vendor/goimap/theme": val("dark")}).Wait(); err != nil {
		t.Fatalf("SETMETADATA server: %v", err)
	}
	if err := c.SetMetadata("INBOX", map[string]*[]byte{
		"/private/comment":      val("my inbox"),
		"/private/vendor/x/one": val("1"),
		"/private/vendor/x/two": val("a longer value"),
	}).Wait(); err != nil {
		t.Fatalf("SETMETADATA INBOX: %v", err)
	}
	data, err := c.GetMetadata("", []string{"/private/vendor/goimap/theme"}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if v := data.Entries["/private/vendor/goimap/theme"]; v == nil || string(*v) != "dark" {
		t.Fatalf("server entry: %+v", data)
	}
	maxSize := uint32(5)
	data, err = c.GetMetadata("INBOX", []string{"/private/vendor/x"}, &imapclient.GetMetadataOptions{
		Depth: imapclient.GetMetadataDepthOne, MaxSize: &maxSize,
	}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if v := data.Entries["/private/vendor/x/one"]; v == nil || string(*v) != "1" {
		t.Errorf("DEPTH 1 MAXSIZE 5: %v", data.Entries)
	}
	if _, ok := data.Entries["/private/vendor/x/two"]; ok {
		t.Errorf("MAXSIZE 5 returned a 14-byte value: %v", data.Entries)
	}
	if err := c.SetMetadata("INBOX", map[string]*[]byte{"/private/comment": nil}).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err = c.GetMetadata("INBOX", []string{"/private/comment"}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if v := data.Entries["/private/comment"]; v != nil {
		t.Errorf("removed entry still there: %q", *v)
	}
}
