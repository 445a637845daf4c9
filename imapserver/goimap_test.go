package imapserver_test

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestGoIMAPClient drives the server with go-imap v2's imapclient, a client
// nobody here wrote: a smoke test of the common flow (the full interop
// suite lives with the interop tests).
func TestGoIMAPClient(t *testing.T) {
	srv := testserver.Start(t)
	exists := make(chan uint32, 16)
	c, err := imapclient.DialInsecure(srv.Addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					exists <- *d.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(srv.Alice.Name, srv.Alice.Password).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	mboxes, err := c.List("", "*", nil).Collect()
	if err != nil || len(mboxes) != 6 {
		t.Fatalf("list: %v %v", mboxes, err)
	}
	msg := testMessage(1)
	ap := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
	ap.Write([]byte(msg))
	ap.Close()
	ad, err := ap.Wait()
	if err != nil || ad.UID != 1 {
		t.Fatalf("append: %+v %v", ad, err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil || sel.NumMessages != 1 || sel.HighestModSeq == 0 {
		t.Fatalf("select: %+v %v", sel, err)
	}
	bs := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{bs}, UID: true, Flags: true, ModSeq: true,
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %v", msgs, err)
	}
	m := msgs[0]
	if m.Envelope == nil || m.Envelope.Subject != "Hello 1" || m.UID != 1 || m.ModSeq == 0 {
		t.Fatalf("fetch: %+v", m)
	}
	if got := string(m.FindBodySection(bs)); got != "Hello body 1\r\n" {
		t.Fatalf("body: %q", got)
	}
	if _, ok := m.BodyStructure.(*imap.BodyStructureSinglePart); !ok {
		t.Fatalf("bodystructure: %#v", m.BodyStructure)
	}
	if _, err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect(); err != nil {
		t.Fatalf("store: %v", err)
	}
	sd, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, nil).Wait()
	if err != nil || len(sd.AllUIDs()) != 1 {
		t.Fatalf("search: %+v %v", sd, err)
	}
	if cd, err := c.Copy(imap.SeqSetNum(1), "Archive").Wait(); err != nil || cd.DestUIDs.String() != "1" {
		t.Fatalf("copy: %+v %v", cd, err)
	}

	// IDLE while another connection appends.
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	other := srv.Login(t, srv.Bob) // another user: nothing to hear
	_ = other
	alice2 := srv.Login(t, srv.Alice)
	appendMsg(t, alice2, "INBOX", "", testMessage(2))
	select {
	case n := <-exists:
		if n != 2 {
			t.Fatalf("EXISTS %d", n)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no EXISTS during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if md, err := c.Move(imap.SeqSetNum(2), "Trash").Wait(); err != nil || md.DestUIDs.String() != "1" {
		t.Fatalf("move: %+v %v", md, err)
	}
	if _, err := c.Expunge().Collect(); err != nil {
		t.Fatalf("expunge: %v", err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatalf("logout: %v", err)
	}
}

// TestGoIMAPBinary: go-imap's imapclient reads BINARY of a nested part
// both ways it now comes, a literal for text and a literal8 for octets
// with NULs, with BINARY.SIZE agreeing with each.
func TestGoIMAPBinary(t *testing.T) {
	srv := testserver.Start(t)
	text := "From: a@example.org\r\nContent-Type: multipart/alternative; boundary=o\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nplain\r\n" +
		"--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@example.org\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n" +
		"--i\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n" +
		"--i\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgc=\r\n--i--\r\n--o--\r\n"
	fill := srv.Login(t, srv.Alice)
	appendMsg(t, fill, "INBOX", "", text)
	c, err := imapclient.DialInsecure(srv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(srv.Alice.Name, srv.Alice.Password).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("select: %v", err)
	}
	qp := &imap.FetchItemBinarySection{Part: []int{2, 1}, Peek: true}
	b64 := &imap.FetchItemBinarySection{Part: []int{2, 2}, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		BinarySection:     []*imap.FetchItemBinarySection{qp, b64},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2, 1}}, {Part: []int{2, 2}}},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %v", msgs, err)
	}
	m := msgs[0]
	for _, tc := range []struct {
		section *imap.FetchItemBinarySection
		want    string
	}{{qp, "café"}, {b64, "\x00\x01\x02\x03\x04\x05\x06\x07"}} {
		got := string(m.FindBinarySection(tc.section))
		size, ok := m.FindBinarySectionSize(tc.section.Part)
		if got != tc.want || !ok || int(size) != len(tc.want) {
			t.Errorf("BINARY%v: %q (size %d, %v), want %q", tc.section.Part, got, size, ok, tc.want)
		}
	}
}
