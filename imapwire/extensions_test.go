package imapwire

import (
	"reflect"
	"testing"
)

// TestQuotaMetadataCommands parses the QUOTA (RFC 9208 7), METADATA
// (RFC 5464 5) and URLAUTH (RFC 4467 9, RFC 5524 4) commands, good and
// bad.
func TestQuotaMetadataCommands(t *testing.T) {
	tests := []struct {
		in   string
		want any // nil: an error
	}{
		{"a GETQUOTA \"\"\r\n", &QuotaRootArgs{Root: ""}},
		{"a GETQUOTA user/bob\r\n", &QuotaRootArgs{Root: "user/bob"}},
		{"a GETQUOTAROOT inbox\r\n", &MailboxArgs{Mailbox: "INBOX"}},
		{"a SETQUOTA \"\" (storage 512 MESSAGE 10)\r\n", &SetQuotaArgs{Root: "", Limits: []QuotaLimit{{"STORAGE", 512}, {"MESSAGE", 10}}}},
		{"a SETQUOTA \"\" ()\r\n", &SetQuotaArgs{Root: ""}},
		{"a SETQUOTA \"\" (STORAGE)\r\n", nil},
		{"a SETQUOTA \"\" (STORAGE x)\r\n", nil},
		{"a GETQUOTA\r\n", nil},
		{"a GETMETADATA \"\" /shared/comment\r\n", &GetMetadataArgs{Mailbox: "", MaxSize: -1, Entries: []string{"/shared/comment"}}},
		{"a GETMETADATA (MAXSIZE 1024 DEPTH infinity) INBOX (/private/a /shared/b)\r\n",
			&GetMetadataArgs{Mailbox: "INBOX", MaxSize: 1024, Depth: DepthInfinity, Entries: []string{"/private/a", "/shared/b"}}},
		// go-imap v2 sends the options after the mailbox.
		{"a GETMETADATA INBOX (DEPTH 1) (/private/a)\r\n", &GetMetadataArgs{Mailbox: "INBOX", MaxSize: -1, Depth: 1, Entries: []string{"/private/a"}}},
		{"a GETMETADATA (DEPTH 2) INBOX /private/a\r\n", nil},
		{"a GETMETADATA (COLOR 1) INBOX /private/a\r\n", nil},
		{"a GETMETADATA INBOX ()\r\n", nil},
		{"a SETMETADATA INBOX (/private/a \"x\" /private/b NIL /private/c {2+}\r\nyz)\r\n",
			&SetMetadataArgs{Mailbox: "INBOX", Values: []MetadataValue{{"/private/a", []byte("x"), false}, {"/private/b", nil, true}, {"/private/c", []byte("yz"), false}}}},
		{"a GENURLAUTH \"imap://joe@h/INBOX/;UID=1;URLAUTH=anonymous\" internal {3+}\r\nabc INTERNAL\r\n",
			&GenURLAuthArgs{URLs: []string{"imap://joe@h/INBOX/;UID=1;URLAUTH=anonymous", "abc"}, Mechanisms: []string{"INTERNAL", "INTERNAL"}}},
		{"a RESETKEY\r\n", &ResetKeyArgs{}},
		{"a RESETKEY inbox\r\n", &ResetKeyArgs{Mailbox: "INBOX", HasMailbox: true}},
		{"a RESETKEY Sent internal X-Y\r\n", &ResetKeyArgs{Mailbox: "Sent", HasMailbox: true, Mechanisms: []string{"INTERNAL", "X-Y"}}},
		{"a URLFETCH u1 (\"u2\" binary bodypartstructure) (u3)\r\n",
			&URLFetchArgs{Items: []URLFetchItem{{URL: "u1"}, {URL: "u2", Extended: true, Params: []string{"BINARY", "BODYPARTSTRUCTURE"}}, {URL: "u3", Extended: true}}}},
		{"a SETMETADATA \"\" (/private/bin ~{3+}\r\na\x00b)\r\n", &SetMetadataArgs{Values: []MetadataValue{{"/private/bin", []byte("a\x00b"), false}}}},
		{"a SETMETADATA INBOX (/private/a)\r\n", nil},
		{"a SETMETADATA INBOX ()\r\n", nil},
		{"a CANCELUPDATE \"B01\"\r\n", &CancelUpdateArgs{Tags: []string{"B01"}}},
		{"a CANCELUPDATE \"B01\" \"x y\"\r\n", &CancelUpdateArgs{Tags: []string{"B01", "x y"}}},
		{"a CANCELUPDATE B01\r\n", nil},
		{"a CANCELUPDATE\r\n", nil},
	}
	for _, tt := range tests {
		d := newTestDecoder(tt.in, DecoderOptions{}, nil)
		cmd, err := d.ReadCommand()
		if tt.want == nil {
			if err == nil {
				t.Errorf("%q: parsed as %+v, want an error", tt.in, cmd.Args)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(cmd.Args, tt.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", tt.in, cmd.Args, tt.want)
		}
	}
}
