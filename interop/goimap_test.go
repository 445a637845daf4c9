package interop

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// multipartMessage has a text part and a base64 attachment, so that
// BODYSTRUCTURE and BODY[n] have something to describe. The text part ends
// with a line break (the one before the boundary belongs to the boundary),
// so that its size and line count are unambiguous: 24 bytes, 1 line.
var multipartMessage = crlf(`From: "Carol Q. Sender" <carol@example.net>
To: alice@example.org
Cc: Dave <dave@example.com>
Subject: second: quarterly kumquat report
Date: Fri, 27 Nov 2026 09:30:00 +0100
Message-ID: <multi-2@interop.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

This is a multi-part message in MIME format.
--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Kumquat sales went up.

--b1
Content-Type: application/octet-stream; name="data.bin"
Content-Disposition: attachment; filename="data.bin"
Content-Transfer-Encoding: base64

AAECAwQFBgcICQ==
--b1--
`)

// dialGoIMAP connects go-imap's client to the server and logs in, with its
// protocol log going to a transcript printed if the test fails.
func dialGoIMAP(t *testing.T, srv *server, name string, handler *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(srv.addr, &imapclient.Options{
		DebugWriter:           newTranscript(t, name),
		UnilateralDataHandler: handler,
	})
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(srv.user, srv.pass).Wait(); err != nil {
		t.Fatalf("%s: LOGIN: %v", name, err)
	}
	return c
}

// appendMsg appends msg and returns the UID from APPENDUID.
func appendMsg(t *testing.T, c *imapclient.Client, mbox, msg string, opts *imap.AppendOptions) *imap.AppendData {
	t.Helper()
	cmd := c.Append(mbox, int64(len(msg)), opts)
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatalf("APPEND write: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("APPEND close: %v", err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND %s: %v", mbox, err)
	}
	return data
}

// hasFlag reports whether flags holds f.
func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	return slices.ContainsFunc(flags, func(g imap.Flag) bool { return strings.EqualFold(string(g), string(f)) })
}

// TestGoIMAP drives the core of a mail client's session with go-imap v2:
// LIST, SELECT, APPEND, FETCH (ENVELOPE, BODYSTRUCTURE, body sections),
// SEARCH, STORE, COPY, MOVE and EXPUNGE, checking the values that come
// back against what was appended.
func TestGoIMAP(t *testing.T) {
	srv := startServer(t)
	c := dialGoIMAP(t, srv, "go-imap", nil)

	caps := c.Caps()
	for _, want := range []imap.Cap{imap.CapIMAP4rev1, imap.CapUIDPlus, imap.CapMove, imap.CapIdle} {
		if !caps.Has(want) {
			t.Errorf("CAPABILITY after LOGIN lacks %s: %v", want, caps)
		}
	}

	if err := c.Create("Kept", nil).Wait(); err != nil {
		t.Fatalf("CREATE Kept: %v", err)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Mailbox)
	}
	for _, want := range []string{"INBOX", "Kept"} {
		if !slices.Contains(names, want) {
			t.Errorf("LIST \"\" * = %q, want it to hold %q", names, want)
		}
	}

	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("SELECT INBOX: %v", err)
	}
	if sel.NumMessages != 0 {
		t.Fatalf("SELECT INBOX of a new account: %d EXISTS, want 0", sel.NumMessages)
	}
	if sel.UIDValidity == 0 {
		t.Errorf("SELECT INBOX: no UIDVALIDITY")
	}

	// Three messages: the second one multipart and \Seen.
	date := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	msgs := []struct {
		body  string
		flags []imap.Flag
	}{
		// An RFC 2047 encoded word, which ENVELOPE carries as is and
		// go-imap decodes.
		{simpleMessage("first-1", "first: =?UTF-8?Q?caf=C3=A9?= hello", "Hello Alice."), nil},
		{multipartMessage, []imap.Flag{imap.FlagSeen}},
		// Quotes and a backslash, which the server must escape or send
		// as a literal.
		{simpleMessage("third-3", `third: "goodbye" \ farewell`, "Goodbye Alice."), nil},
	}
	var uids []imap.UID
	for i, m := range msgs {
		data := appendMsg(t, c, "INBOX", m.body, &imap.AppendOptions{Flags: m.flags, Time: date})
		if data.UIDValidity != sel.UIDValidity {
			t.Errorf("APPEND %d: APPENDUID validity %d, SELECT said %d", i+1, data.UIDValidity, sel.UIDValidity)
		}
		if len(uids) > 0 && data.UID <= uids[len(uids)-1] {
			t.Errorf("APPEND %d: APPENDUID %d not above previous %d", i+1, data.UID, uids[len(uids)-1])
		}
		uids = append(uids, data.UID)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP: %v", err)
	}
	if n := c.Mailbox().NumMessages; n != 3 {
		t.Errorf("after 3 APPENDs to the selected INBOX and NOOP: %d EXISTS, want 3", n)
	}

	t.Run("fetch", func(t *testing.T) {
		header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
		part1 := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
		part2 := &imap.FetchItemBodySection{Part: []int{2}, Peek: true}
		whole := &imap.FetchItemBodySection{Peek: true}
		partial := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Partial: &imap.SectionPartial{Offset: 6, Size: 5}, Peek: true}
		bufs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
			UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
			BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
			BodySection:   []*imap.FetchItemBodySection{header, whole, partial},
		}).Collect()
		if err != nil {
			t.Fatalf("UID FETCH: %v", err)
		}
		if len(bufs) != 3 {
			t.Fatalf("UID FETCH %v: %d messages, want 3", uids, len(bufs))
		}
		wantSubjects := []string{"first: café hello", "second: quarterly kumquat report", `third: "goodbye" \ farewell`}
		rawSubjects := []string{"first: =?UTF-8?Q?caf=C3=A9?= hello", wantSubjects[1], wantSubjects[2]}
		for i, b := range bufs {
			if b.UID != uids[i] || b.SeqNum != uint32(i+1) {
				t.Errorf("message %d: UID %d seq %d, want UID %d seq %d", i+1, b.UID, b.SeqNum, uids[i], i+1)
			}
			if b.Envelope == nil || b.Envelope.Subject != wantSubjects[i] {
				t.Errorf("message %d: ENVELOPE %+v, want subject %q", i+1, b.Envelope, wantSubjects[i])
			}
			if b.RFC822Size != int64(len(msgs[i].body)) {
				t.Errorf("message %d: RFC822.SIZE %d, want %d", i+1, b.RFC822Size, len(msgs[i].body))
			}
			if !b.InternalDate.Equal(date) {
				t.Errorf("message %d: INTERNALDATE %v, want the APPEND date %v", i+1, b.InternalDate, date)
			}
			if got := string(b.FindBodySection(whole)); got != msgs[i].body {
				t.Errorf("message %d: BODY.PEEK[] = %q, want the appended bytes %q", i+1, got, msgs[i].body)
			}
			if got, want := string(b.FindBodySection(header)), "Subject: "+rawSubjects[i]+"\r\n\r\n"; got != want {
				t.Errorf("message %d: BODY.PEEK[HEADER.FIELDS (Subject)] = %q, want %q", i+1, got, want)
			}
			if got := hasFlag(b.Flags, imap.FlagSeen); got != (i == 1) {
				t.Errorf("message %d: FLAGS %v: \\Seen is %v, want %v (BODY.PEEK must not set it)", i+1, b.Flags, got, i == 1)
			}
		}
		if got, want := string(bufs[0].FindBodySection(partial)), "Alice"; got != want {
			t.Errorf("BODY.PEEK[TEXT]<6.5> of message 1 = %q, want %q", got, want)
		}

		env := bufs[1].Envelope
		if env != nil {
			wantFrom := imap.Address{Name: "Carol Q. Sender", Mailbox: "carol", Host: "example.net"}
			if len(env.From) != 1 || env.From[0] != wantFrom {
				t.Errorf("ENVELOPE from = %+v, want [%+v]", env.From, wantFrom)
			}
			if len(env.Cc) != 1 || env.Cc[0].Addr() != "dave@example.com" || env.Cc[0].Name != "Dave" {
				t.Errorf("ENVELOPE cc = %+v, want Dave <dave@example.com>", env.Cc)
			}
			if env.MessageID != "multi-2@interop.test" {
				t.Errorf("ENVELOPE message-id = %q, want multi-2@interop.test", env.MessageID)
			}
			if want := time.Date(2026, 11, 27, 8, 30, 0, 0, time.UTC); !env.Date.Equal(want) {
				t.Errorf("ENVELOPE date = %v, want %v", env.Date, want)
			}
		}

		mp, ok := bufs[1].BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok {
			t.Fatalf("BODYSTRUCTURE of the multipart message = %#v, want multipart", bufs[1].BodyStructure)
		}
		if mp.MediaType() != "multipart/mixed" || len(mp.Children) != 2 {
			t.Fatalf("BODYSTRUCTURE = %s with %d parts, want multipart/mixed with 2", mp.MediaType(), len(mp.Children))
		}
		if mp.Extended == nil || mp.Extended.Params["boundary"] != "b1" {
			t.Errorf("BODYSTRUCTURE multipart extension = %+v, want boundary b1", mp.Extended)
		}
		text, _ := mp.Children[0].(*imap.BodyStructureSinglePart)
		if text == nil || text.MediaType() != "text/plain" || !strings.EqualFold(text.Params["charset"], "utf-8") ||
			text.Size != uint32(len("Kumquat sales went up.\r\n")) || text.Text == nil || text.Text.NumLines != 1 {
			t.Errorf("BODYSTRUCTURE part 1 = %+v, want text/plain; charset=utf-8, 24 bytes, 1 line", text)
		}
		att, _ := mp.Children[1].(*imap.BodyStructureSinglePart)
		if att == nil || att.MediaType() != "application/octet-stream" || !strings.EqualFold(att.Encoding, "base64") ||
			att.Params["name"] != "data.bin" {
			t.Errorf("BODYSTRUCTURE part 2 = %+v, want application/octet-stream base64 name=data.bin", att)
		} else if att.Extended == nil || att.Extended.Disposition == nil ||
			!strings.EqualFold(att.Extended.Disposition.Value, "attachment") ||
			att.Extended.Disposition.Params["filename"] != "data.bin" {
			t.Errorf("BODYSTRUCTURE part 2 disposition = %+v, want attachment filename=data.bin", att.Extended)
		}
		if sp, ok := bufs[0].BodyStructure.(*imap.BodyStructureSinglePart); !ok || sp.MediaType() != "text/plain" {
			t.Errorf("BODYSTRUCTURE of message 1 = %#v, want text/plain", bufs[0].BodyStructure)
		}

		// BODY[1] and BODY[2] of the multipart message, and \Seen set by a
		// non-peek fetch.
		part1.Peek = false
		got, err := c.Fetch(imap.UIDSetNum(uids[1]), &imap.FetchOptions{
			BodySection: []*imap.FetchItemBodySection{part1, part2},
		}).Collect()
		if err != nil || len(got) != 1 {
			t.Fatalf("UID FETCH %d BODY[1] BODY.PEEK[2]: %d messages, %v", uids[1], len(got), err)
		}
		if s := string(got[0].FindBodySection(part1)); s != "Kumquat sales went up.\r\n" {
			t.Errorf("BODY[1] = %q, want %q", s, "Kumquat sales went up.\r\n")
		}
		if s := string(got[0].FindBodySection(part2)); s != "AAECAwQFBgcICQ==" {
			t.Errorf("BODY[2] = %q, want %q", s, "AAECAwQFBgcICQ==")
		}
	})

	t.Run("search", func(t *testing.T) {
		tests := []struct {
			name     string
			criteria imap.SearchCriteria
			want     []imap.UID
		}{
			{"all", imap.SearchCriteria{}, uids},
			{"subject", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "goodbye"}}}, uids[2:3]},
			// Matched against the decoded header (RFC 9051 6.4.4). go-imap
			// sends UTF-8 without CHARSET to a server advertising IMAP4rev2.
			{"subject-utf8", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "café"}}}, uids[0:1]},
			{"body", imap.SearchCriteria{Body: []string{"kumquat sales"}}, uids[1:2]},
			{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []imap.UID{uids[0], uids[2]}},
			{"from", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "carol@example.net"}}}, uids[1:2]},
			{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
				{Text: []string{"Hello Alice"}}, {Text: []string{"Goodbye Alice"}},
			}}}, []imap.UID{uids[0], uids[2]}},
		}
		for _, tt := range tests {
			data, err := c.UIDSearch(&tt.criteria, nil).Wait()
			if err != nil {
				t.Errorf("UID SEARCH %s: %v", tt.name, err)
				continue
			}
			if got := data.AllUIDs(); !slices.Equal(got, tt.want) {
				t.Errorf("UID SEARCH %s = %v, want %v", tt.name, got, tt.want)
			}
		}
		// Sequence-number SEARCH too.
		data, err := c.Search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
		if err != nil {
			t.Fatalf("SEARCH SEEN: %v", err)
		}
		if got := data.AllSeqNums(); !slices.Equal(got, []uint32{2}) {
			t.Errorf("SEARCH SEEN = %v, want [2] (message 2 was appended \\Seen and read with BODY[1])", got)
		}
	})

	t.Run("store", func(t *testing.T) {
		// Non-silent STORE returns the new flags.
		got, err := c.Store(imap.UIDSetNum(uids[0]), &imap.StoreFlags{
			Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "$Label1"},
		}, nil).Collect()
		if err != nil || len(got) != 1 {
			t.Fatalf("UID STORE +FLAGS: %d responses, %v", len(got), err)
		}
		if !hasFlag(got[0].Flags, imap.FlagFlagged) || !hasFlag(got[0].Flags, "$Label1") {
			t.Errorf("UID STORE %d +FLAGS (\\Flagged $Label1) answered FLAGS %v", uids[0], got[0].Flags)
		}
		if err := c.Store(imap.UIDSetNum(uids[1]), &imap.StoreFlags{
			Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen},
		}, nil).Close(); err != nil {
			t.Fatalf("UID STORE -FLAGS.SILENT: %v", err)
		}
		bufs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil || len(bufs) != 3 {
			t.Fatalf("UID FETCH FLAGS: %d messages, %v", len(bufs), err)
		}
		want := []struct{ flagged, seen bool }{{true, false}, {false, false}, {false, false}}
		for i, b := range bufs {
			if hasFlag(b.Flags, imap.FlagFlagged) != want[i].flagged || hasFlag(b.Flags, imap.FlagSeen) != want[i].seen {
				t.Errorf("message %d after STORE: FLAGS %v, want \\Flagged=%v \\Seen=%v", i+1, b.Flags, want[i].flagged, want[i].seen)
			}
		}
	})

	t.Run("copy-move-expunge", func(t *testing.T) {
		cp, err := c.Copy(imap.UIDSetNum(uids[0]), "Kept").Wait()
		if err != nil {
			t.Fatalf("UID COPY to Kept: %v", err)
		}
		if src, _ := cp.SourceUIDs.Nums(); !slices.Equal(src, uids[:1]) {
			t.Errorf("COPYUID source UIDs %v, want %v", cp.SourceUIDs, uids[:1])
		}
		if dst, _ := cp.DestUIDs.Nums(); len(dst) != 1 {
			t.Errorf("COPYUID dest UIDs %v, want one UID", cp.DestUIDs)
		}

		mv, err := c.Move(imap.UIDSetNum(uids[2]), "Kept").Wait()
		if err != nil {
			t.Fatalf("UID MOVE to Kept: %v", err)
		}
		if mv.SourceUIDs.String() != fmt.Sprint(uids[2]) {
			t.Errorf("MOVE COPYUID source %v, want %d", mv.SourceUIDs, uids[2])
		}
		if n := c.Mailbox().NumMessages; n != 2 {
			t.Errorf("after MOVE of one of 3 messages: client counts %d messages, want 2 (EXPUNGE missing?)", n)
		}

		if err := c.Store(imap.UIDSetNum(uids[0]), &imap.StoreFlags{
			Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted},
		}, nil).Close(); err != nil {
			t.Fatalf("UID STORE +FLAGS.SILENT \\Deleted: %v", err)
		}
		seqs, err := c.Expunge().Collect()
		if err != nil {
			t.Fatalf("EXPUNGE: %v", err)
		}
		if !slices.Equal(seqs, []uint32{1}) {
			t.Errorf("EXPUNGE sent EXPUNGE for %v, want [1]", seqs)
		}
		data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			t.Fatalf("UID SEARCH ALL: %v", err)
		}
		if got := data.AllUIDs(); !slices.Equal(got, uids[1:2]) {
			t.Errorf("INBOX after COPY, MOVE and EXPUNGE: UIDs %v, want %v", got, uids[1:2])
		}

		st, err := c.Status("Kept", &imap.StatusOptions{NumMessages: true, UIDNext: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS Kept: %v", err)
		}
		if st.NumMessages == nil || *st.NumMessages != 2 {
			t.Errorf("STATUS Kept MESSAGES = %v, want 2", st.NumMessages)
		}

		if _, err := c.Select("Kept", nil).Wait(); err != nil {
			t.Fatalf("SELECT Kept: %v", err)
		}
		bufs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{Envelope: true, Flags: true}).Collect()
		if err != nil || len(bufs) != 2 {
			t.Fatalf("FETCH 1:2 in Kept: %d messages, %v", len(bufs), err)
		}
		if s := bufs[0].Envelope.Subject; s != "first: café hello" || !hasFlag(bufs[0].Flags, imap.FlagFlagged) {
			t.Errorf("Kept message 1: subject %q flags %v, want the copied %q with \\Flagged", s, bufs[0].Flags, "first: café hello")
		}
		if s := bufs[1].Envelope.Subject; s != `third: "goodbye" \ farewell` {
			t.Errorf("Kept message 2: subject %q, want the moved %q", s, `third: "goodbye" \ farewell`)
		}
	})

	if err := c.Logout().Wait(); err != nil {
		t.Errorf("LOGOUT: %v", err)
	}
}

// TestGoIMAPIdle checks that a go-imap client in IDLE hears of another
// session's APPEND (EXISTS), STORE (FETCH FLAGS) and EXPUNGE, as the
// unilateral responses RFC 9051 requires.
func TestGoIMAPIdle(t *testing.T) {
	t.Run("active", func(t *testing.T) { testGoIMAPIdle(t, false) })
	// The same with the idler hibernated before each change: it is told
	// by a sleeper, and its DONE and FETCH are served after a wake.
	t.Run("hibernated", func(t *testing.T) { testGoIMAPIdle(t, true) })
}

func testGoIMAPIdle(t *testing.T, hibernate bool) {
	var srv *server
	asleep := func() {}
	if hibernate {
		srv = startServer(t, hibernating)
		// Both connections: the idler in IDLE, the other quiet
		// between its commands.
		asleep = func() { t.Helper(); srv.waitHibernated(t, 2) }
	} else {
		srv = startServer(t)
	}

	exists := make(chan uint32, 16)
	fetches := make(chan *imapclient.FetchMessageBuffer, 16)
	expunges := make(chan uint32, 16)
	handler := &imapclient.UnilateralDataHandler{
		Mailbox: func(data *imapclient.UnilateralDataMailbox) {
			if data.NumMessages != nil {
				exists <- *data.NumMessages
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			// The handler must consume the data before the client reads on.
			if buf, err := msg.Collect(); err == nil {
				fetches <- buf
			}
		},
		Expunge: func(seq uint32) { expunges <- seq },
	}
	idler := dialGoIMAP(t, srv, "idler", handler)
	other := dialGoIMAP(t, srv, "other", nil)

	first := appendMsg(t, other, "INBOX", simpleMessage("idle-1", "before idle", "one"), nil)
	if _, err := idler.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("idler: SELECT INBOX: %v", err)
	}
	drain(exists)

	idle, err := idler.Idle()
	if err != nil {
		t.Fatalf("idler: IDLE: %v", err)
	}
	// Stop IDLE before the cleanups close the connection.
	defer idle.Close()

	const wait = 5 * time.Second
	asleep()
	second := appendMsg(t, other, "INBOX", simpleMessage("idle-2", "during idle", "two"), nil)
	if n := receive(t, exists, wait, "EXISTS after the other session's APPEND"); n != 2 {
		t.Errorf("idler got * %d EXISTS, want * 2 EXISTS", n)
	}

	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("other: SELECT INBOX: %v", err)
	}
	asleep()
	if err := other.Store(imap.UIDSetNum(first.UID), &imap.StoreFlags{
		Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged},
	}, nil).Close(); err != nil {
		t.Fatalf("other: STORE: %v", err)
	}
	if f := receive(t, fetches, wait, "FETCH FLAGS after the other session's STORE"); f.SeqNum != 1 || !hasFlag(f.Flags, imap.FlagFlagged) {
		t.Errorf("idler got * %d FETCH (FLAGS %v), want * 1 FETCH with \\Flagged", f.SeqNum, f.Flags)
	}

	asleep()
	if err := other.Store(imap.UIDSetNum(first.UID), &imap.StoreFlags{
		Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted},
	}, nil).Close(); err != nil {
		t.Fatalf("other: STORE \\Deleted: %v", err)
	}
	if err := other.Expunge().Close(); err != nil {
		t.Fatalf("other: EXPUNGE: %v", err)
	}
	if seq := receive(t, expunges, wait, "EXPUNGE after the other session's EXPUNGE"); seq != 1 {
		t.Errorf("idler got * %d EXPUNGE, want * 1 EXPUNGE", seq)
	}

	asleep()
	if err := idle.Close(); err != nil {
		t.Fatalf("idler: DONE: %v", err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("idler: IDLE ended with %v", err)
	}
	bufs, err := idler.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil || len(bufs) != 1 {
		t.Fatalf("idler: FETCH 1 after IDLE: %d messages, %v", len(bufs), err)
	}
	if bufs[0].UID != second.UID || bufs[0].Envelope.Subject != "during idle" {
		t.Errorf("idler: message 1 after IDLE is UID %d %q, want UID %d %q", bufs[0].UID, bufs[0].Envelope.Subject, second.UID, "during idle")
	}
	if hibernate {
		// Every change was told by the sleeper in place: the APPEND,
		// the STORE, the STORE \Deleted with the EXPUNGE after it (one
		// update or two); DONE too, and the FETCH woke it. (The other
		// session's commands wake it from its quiet sleeps too.)
		if n := srv.metric(t, "dormouse_imap_hibernated_served_total,kind=update"); n < 3 {
			t.Errorf("updates sent asleep = %v, want ≥ 3", n)
		}
		if n := srv.metric(t, "dormouse_imap_hibernated_served_total,kind=reidle"); n < 1 {
			t.Errorf("DONE answered asleep = %v, want ≥ 1", n)
		}
		if n := srv.metric(t, "dormouse_imap_wakes_total,cause=client"); n < 1 {
			t.Errorf("full wakes by the client = %v, want ≥ 1 (the FETCH)", n)
		}
	}
}

// receive waits for one value on ch, failing the test after d.
func receive[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("no %s within %v", what, d)
		panic("unreachable")
	}
}

// drain empties a buffered channel of values sent before the interesting
// part of a test.
func drain[T any](ch <-chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
