package imapwire

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// newTestDecoder returns a Decoder over in that records continuation
// requests in *conts.
func newTestDecoder(in string, opts DecoderOptions, conts *[]int64) *Decoder {
	opts.Continue = func(n int64) error {
		if conts != nil {
			*conts = append(*conts, n)
		}
		return nil
	}
	return NewDecoder(bufio.NewReaderSize(strings.NewReader(in), 4096), opts)
}

func set(rs ...uint32) SeqSet {
	s := SeqSet{}
	for i := 0; i+1 < len(rs); i += 2 {
		s.Ranges = append(s.Ranges, SeqRange{rs[i], rs[i+1]})
	}
	return s
}

func setp(rs ...uint32) *SeqSet { s := set(rs...); return &s }

func u64p(n uint64) *uint64 { return &n }

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func and(k ...*SearchKey) *SearchKey { return &SearchKey{Op: "AND", Children: k} }

func key(op string) *SearchKey { return &SearchKey{Op: op} }

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var goodCommands = []struct {
	in   string
	want Command
}{
	{"a1 CAPABILITY\r\n", Command{Tag: "a1", Name: "CAPABILITY"}},
	{"a1 capability\r\n", Command{Tag: "a1", Name: "CAPABILITY"}},
	{"A.2 NOOP\r\n", Command{Tag: "A.2", Name: "NOOP"}},
	{"x LOGOUT\n", Command{Tag: "x", Name: "LOGOUT"}},
	{"x StartTLS\r\n", Command{Tag: "x", Name: "STARTTLS"}},
	{"t] IDLE\r\n", Command{Tag: "t]", Name: "IDLE"}},
	{"t CHECK\r\n", Command{Tag: "t", Name: "CHECK"}},
	{"t CLOSE\r\n", Command{Tag: "t", Name: "CLOSE"}},
	{"t UNSELECT\r\n", Command{Tag: "t", Name: "UNSELECT"}},
	{"t NAMESPACE\r\n", Command{Tag: "t", Name: "NAMESPACE"}},
	{"t EXPUNGE\r\n", Command{Tag: "t", Name: "EXPUNGE"}},
	{"t UID EXPUNGE 3:5,7\r\n", Command{Tag: "t", Name: "EXPUNGE", UID: true, Args: &ExpungeArgs{Set: set(3, 5, 7, 7)}}},
	{"t AUTHENTICATE PLAIN\r\n", Command{Tag: "t", Name: "AUTHENTICATE", Args: &AuthenticateArgs{Mechanism: "PLAIN"}}},
	{"t AUTHENTICATE plain AHVzZXIAcGFzcw==\r\n", Command{Tag: "t", Name: "AUTHENTICATE", Args: &AuthenticateArgs{Mechanism: "PLAIN", InitialResponse: []byte("\x00user\x00pass")}}},
	{"t AUTHENTICATE EXTERNAL =\r\n", Command{Tag: "t", Name: "AUTHENTICATE", Args: &AuthenticateArgs{Mechanism: "EXTERNAL", InitialResponse: []byte{}}}},
	{"t LOGIN joe secret\r\n", Command{Tag: "t", Name: "LOGIN", Args: &LoginArgs{"joe", "secret"}}},
	{"t LOGIN \"joe@x\" \"se\\\"c\\\\ret\"\r\n", Command{Tag: "t", Name: "LOGIN", Args: &LoginArgs{"joe@x", `se"c\ret`}}},
	{"t LOGIN {3}\r\njoe {6+}\r\nsec et\r\n", Command{Tag: "t", Name: "LOGIN", Args: &LoginArgs{"joe", "sec et"}}},
	{"t LOGIN \"\" {0}\r\n\r\n", Command{Tag: "t", Name: "LOGIN", Args: &LoginArgs{"", ""}}},
	{"t ENABLE CONDSTORE utf8=accept\r\n", Command{Tag: "t", Name: "ENABLE", Args: &EnableArgs{Caps: []string{"CONDSTORE", "UTF8=ACCEPT"}}}},
	{"t SELECT inbox\r\n", Command{Tag: "t", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX"}}},
	{"t EXAMINE \"Sent Items\"\r\n", Command{Tag: "t", Name: "EXAMINE", Args: &SelectArgs{Mailbox: "Sent Items", ReadOnly: true}}},
	{"t SELECT Entw&APw-rfe (CONDSTORE)\r\n", Command{Tag: "t", Name: "SELECT", Args: &SelectArgs{Mailbox: "Entwürfe", CondStore: true}}},
	{"t SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n", Command{Tag: "t", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", QResync: &QResyncArgs{UIDValidity: 67890007, ModSeq: 20050715194045000, KnownUIDs: setp(41, 41, 43, 211, 214, 541)}}}},
	{"t SELECT INBOX (QRESYNC (1 2))\r\n", Command{Tag: "t", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", QResync: &QResyncArgs{UIDValidity: 1, ModSeq: 2}}}},
	{"t EXAMINE INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)) CONDSTORE)\r\n", Command{Tag: "t", Name: "EXAMINE", Args: &SelectArgs{Mailbox: "INBOX", ReadOnly: true, CondStore: true, QResync: &QResyncArgs{UIDValidity: 67890007, ModSeq: 90060115194045000, KnownUIDs: setp(1, 29997),
		SeqMatchSeqs: setp(5000, 5000, 7500, 7500, 9000, 9000, 9990, 9999), SeqMatchUIDs: setp(15000, 15000, 22500, 22500, 27000, 27000, 29970, 29970, 29973, 29973, 29976, 29976, 29979, 29979, 29982, 29982, 29985, 29985, 29988, 29988, 29991, 29991, 29994, 29994, 29997, 29997)}}}},
	{"t SELECT INBOX (QRESYNC (1 2 (3 4)))\r\n", Command{Tag: "t", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", QResync: &QResyncArgs{UIDValidity: 1, ModSeq: 2, SeqMatchSeqs: setp(3, 3), SeqMatchUIDs: setp(4, 4)}}}},
	{"t CREATE foo/bar\r\n", Command{Tag: "t", Name: "CREATE", Args: &CreateArgs{Mailbox: "foo/bar"}}},
	{"t CREATE MySpecial (USE (\\drafts \\Sent))\r\n", Command{Tag: "t", Name: "CREATE", Args: &CreateArgs{Mailbox: "MySpecial", SpecialUse: []string{`\Drafts`, `\Sent`}}}},
	{"t DELETE &ZeVnLIqe-\r\n", Command{Tag: "t", Name: "DELETE", Args: &MailboxArgs{Mailbox: "日本語"}}},
	{"t SUBSCRIBE x&-y\r\n", Command{Tag: "t", Name: "SUBSCRIBE", Args: &MailboxArgs{Mailbox: "x&y"}}},
	{"t UNSUBSCRIBE \"a b\"\r\n", Command{Tag: "t", Name: "UNSUBSCRIBE", Args: &MailboxArgs{Mailbox: "a b"}}},
	{"t RENAME old new\r\n", Command{Tag: "t", Name: "RENAME", Args: &RenameArgs{"old", "new"}}},
	{"t LIST \"\" *\r\n", Command{Tag: "t", Name: "LIST", Args: &ListArgs{Reference: "", Patterns: []string{"*"}}}},
	{"t LIST \"\" %/&AOk-t&AOk-\r\n", Command{Tag: "t", Name: "LIST", Args: &ListArgs{Reference: "", Patterns: []string{"%/été"}}}},
	{"t LSUB \"\" \"*\"\r\n", Command{Tag: "t", Name: "LSUB", Args: &ListArgs{LSUB: true, Patterns: []string{"*"}}}},
	{"t LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX* \"Sent%\") RETURN (CHILDREN)\r\n", Command{Tag: "t", Name: "LIST", Args: &ListArgs{Select: []string{"SUBSCRIBED", "RECURSIVEMATCH"}, Patterns: []string{"INBOX*", "Sent%"}, ReturnChildren: true}}},
	{"t LIST () \"\" % RETURN (SUBSCRIBED SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n", Command{Tag: "t", Name: "LIST", Args: &ListArgs{Select: []string{}, Patterns: []string{"%"}, ReturnSubscribed: true, ReturnSpecialUse: true, ReturnStatus: []string{"MESSAGES", "UNSEEN"}}}},
	{"t list (special-use) \"\" *\r\n", Command{Tag: "t", Name: "LIST", Args: &ListArgs{Select: []string{"SPECIAL-USE"}, Patterns: []string{"*"}}}},
	{"t STATUS INBOX (MESSAGES UIDNEXT uidvalidity UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ)\r\n", Command{Tag: "t", Name: "STATUS", Args: &StatusArgs{Mailbox: "INBOX", Items: []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ"}}}},
	{"t FETCH 1:* (FLAGS)\r\n", Command{Tag: "t", Name: "FETCH", Args: &FetchArgs{Set: set(1, 0), Items: []FetchItem{{Name: "FLAGS"}}}}},
	{"t UID FETCH 1:* FLAGS\r\n", Command{Tag: "t", Name: "FETCH", UID: true, Args: &FetchArgs{Set: set(1, 0), Items: []FetchItem{{Name: "FLAGS"}}}}},
	{"t FETCH 2 ALL\r\n", Command{Tag: "t", Name: "FETCH", Args: &FetchArgs{Set: set(2, 2), Items: []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}, {Name: "ENVELOPE"}}}}},
	{"t FETCH 2 fast\r\n", Command{Tag: "t", Name: "FETCH", Args: &FetchArgs{Set: set(2, 2), Items: []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}}}}},
	{"t FETCH 2 FULL\r\n", Command{Tag: "t", Name: "FETCH", Args: &FetchArgs{Set: set(2, 2), Items: []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}, {Name: "ENVELOPE"}, {Name: "BODY"}}}}},
	{"t FETCH $ (UID RFC822 RFC822.HEADER RFC822.TEXT BODYSTRUCTURE BODY MODSEQ SAVEDATE EMAILID THREADID ENVELOPE INTERNALDATE)\r\n", Command{Tag: "t", Name: "FETCH", Args: &FetchArgs{Set: SeqSet{Saved: true}, Items: []FetchItem{{Name: "UID"}, {Name: "RFC822"}, {Name: "RFC822.HEADER"}, {Name: "RFC822.TEXT"}, {Name: "BODYSTRUCTURE"}, {Name: "BODY"}, {Name: "MODSEQ"}, {Name: "SAVEDATE"}, {Name: "EMAILID"}, {Name: "THREADID"}, {Name: "ENVELOPE"}, {Name: "INTERNALDATE"}}}}},
	{"t UID FETCH 4:7 (BODY.PEEK[HEADER.FIELDS (From To \"Subject\")] BODY[] BODY[1.2.MIME] BODY[TEXT]<0.2048> body[3]<5.10>)\r\n", Command{Tag: "t", Name: "FETCH", UID: true, Args: &FetchArgs{Set: set(4, 7), Items: []FetchItem{
		{Name: "BODY", Peek: true, Section: &Section{Specifier: "HEADER.FIELDS", Fields: []string{"From", "To", "Subject"}}},
		{Name: "BODY", Section: &Section{}},
		{Name: "BODY", Section: &Section{Part: []int{1, 2}, Specifier: "MIME"}},
		{Name: "BODY", Section: &Section{Specifier: "TEXT"}, Partial: &Partial{0, 2048}},
		{Name: "BODY", Section: &Section{Part: []int{3}}, Partial: &Partial{5, 10}},
	}}}},
	{"t FETCH 1 (BODY[2.HEADER.FIELDS.NOT (X-A)] BODY[1.HEADER] BODY[4.TEXT])\r\n", Command{Tag: "t", Name: "FETCH", Args: &FetchArgs{Set: set(1, 1), Items: []FetchItem{
		{Name: "BODY", Section: &Section{Part: []int{2}, Specifier: "HEADER.FIELDS.NOT", Fields: []string{"X-A"}}},
		{Name: "BODY", Section: &Section{Part: []int{1}, Specifier: "HEADER"}},
		{Name: "BODY", Section: &Section{Part: []int{4}, Specifier: "TEXT"}},
	}}}},
	{"t FETCH 1 (BINARY[] BINARY.PEEK[1.2]<0.100> BINARY.SIZE[3])\r\n", Command{Tag: "t", Name: "FETCH", Args: &FetchArgs{Set: set(1, 1), Items: []FetchItem{
		{Name: "BINARY", Section: &Section{}},
		{Name: "BINARY", Peek: true, Section: &Section{Part: []int{1, 2}}, Partial: &Partial{0, 100}},
		{Name: "BINARY.SIZE", Section: &Section{Part: []int{3}}},
	}}}},
	{"t UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n", Command{Tag: "t", Name: "FETCH", UID: true, Args: &FetchArgs{Set: set(1, 0), Items: []FetchItem{{Name: "FLAGS"}}, ChangedSince: 12345, Vanished: true}}},
	{"t FETCH 1:5 FLAGS (CHANGEDSINCE 7)\r\n", Command{Tag: "t", Name: "FETCH", Args: &FetchArgs{Set: set(1, 5), Items: []FetchItem{{Name: "FLAGS"}}, ChangedSince: 7}}},
	{"t STORE 1:3 +FLAGS (\\seen $Label1)\r\n", Command{Tag: "t", Name: "STORE", Args: &StoreArgs{Set: set(1, 3), Op: StoreAdd, Flags: []string{`\Seen`, "$Label1"}}}},
	{"t UID STORE 7 -FLAGS.SILENT \\Deleted \\FLAGGED\r\n", Command{Tag: "t", Name: "STORE", UID: true, Args: &StoreArgs{Set: set(7, 7), Op: StoreRemove, Silent: true, Flags: []string{`\Deleted`, `\Flagged`}}}},
	{"t STORE 2 FLAGS ()\r\n", Command{Tag: "t", Name: "STORE", Args: &StoreArgs{Set: set(2, 2), Op: StoreReplace, Flags: []string{}}}},
	{"t STORE 2 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n", Command{Tag: "t", Name: "STORE", Args: &StoreArgs{Set: set(2, 2), Op: StoreAdd, Silent: true, Flags: []string{`\Deleted`}, UnchangedSince: u64p(320162338)}}},
	{"t COPY 2:4 MEETING\r\n", Command{Tag: "t", Name: "COPY", Args: &CopyArgs{Set: set(2, 4), Mailbox: "MEETING"}}},
	{"t UID COPY 2:4,* \"Trash\"\r\n", Command{Tag: "t", Name: "COPY", UID: true, Args: &CopyArgs{Set: set(2, 4, 0, 0), Mailbox: "Trash"}}},
	{"t MOVE $ Archive\r\n", Command{Tag: "t", Name: "MOVE", Args: &CopyArgs{Set: SeqSet{Saved: true}, Mailbox: "Archive"}}},
	{"t uid move 1 inbox\r\n", Command{Tag: "t", Name: "MOVE", UID: true, Args: &CopyArgs{Set: set(1, 1), Mailbox: "INBOX"}}},
	{"t ID NIL\r\n", Command{Tag: "t", Name: "ID", Args: &IDArgs{}}},
	{"t ID (\"name\" \"sodr\" \"version\" NIL)\r\n", Command{Tag: "t", Name: "ID", Args: &IDArgs{Params: []string{"name", "sodr", "version", ""}}}},
	{"t SEARCH ALL\r\n", Command{Tag: "t", Name: "SEARCH", Args: &SearchArgs{Key: and(key("ALL"))}}},
	{"t UID SEARCH UNSEEN FROM \"Smith\" SINCE 1-Feb-1994 NOT DELETED\r\n", Command{Tag: "t", Name: "SEARCH", UID: true, Args: &SearchArgs{Key: and(key("UNSEEN"), &SearchKey{Op: "FROM", Value: "Smith"}, &SearchKey{Op: "SINCE", Date: day(1994, 2, 1)}, &SearchKey{Op: "NOT", Children: []*SearchKey{key("DELETED")}})}}},
	{"t SEARCH CHARSET utf-8 TEXT {6}\r\nXXXXXX\r\n", Command{Tag: "t", Name: "SEARCH", Args: &SearchArgs{Charset: "UTF-8", Key: and(&SearchKey{Op: "TEXT", Value: "XXXXXX"})}}},
	{"t SEARCH RETURN (MIN max COUNT ALL SAVE) CHARSET US-ASCII OR (SEEN FLAGGED) (HEADER X-Foo bar LARGER 100) 1:5,* UID 3:4\r\n", Command{Tag: "t", Name: "SEARCH", Args: &SearchArgs{Charset: "US-ASCII", Return: []string{"MIN", "MAX", "COUNT", "ALL", "SAVE"}, Key: and(
		&SearchKey{Op: "OR", Children: []*SearchKey{and(key("SEEN"), key("FLAGGED")), and(&SearchKey{Op: "HEADER", Field: "X-Foo", Value: "bar"}, &SearchKey{Op: "LARGER", Number: 100})}},
		&SearchKey{Op: "SEQSET", Set: setp(1, 5, 0, 0)},
		&SearchKey{Op: "UID", Set: setp(3, 4)},
	)}}},
	{"t SEARCH RETURN () ALL\r\n", Command{Tag: "t", Name: "SEARCH", Args: &SearchArgs{Return: []string{}, Key: and(key("ALL"))}}},
	{"t UID SEARCH RETURN (update Context COUNT) UNSEEN\r\n", Command{Tag: "t", Name: "SEARCH", UID: true, Args: &SearchArgs{Return: []string{"UPDATE", "CONTEXT", "COUNT"}, Key: and(key("UNSEEN"))}}},
	{"t SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338 OLDER 3600 YOUNGER 60\r\n", Command{Tag: "t", Name: "SEARCH", Args: &SearchArgs{Key: and(&SearchKey{Op: "MODSEQ", Field: `/flags/\draft`, Value: "all", Number: 620162338}, &SearchKey{Op: "OLDER", Number: 3600}, &SearchKey{Op: "YOUNGER", Number: 60})}}},
	{"t SEARCH MODSEQ 5 SAVEDBEFORE \"2-Mar-2020\" SAVEDON 29-Feb-2020 SAVEDSINCE 01-jan-2000 SAVEDATESUPPORTED\r\n", Command{Tag: "t", Name: "SEARCH", Args: &SearchArgs{Key: and(&SearchKey{Op: "MODSEQ", Number: 5}, &SearchKey{Op: "SAVEDBEFORE", Date: day(2020, 3, 2)}, &SearchKey{Op: "SAVEDON", Date: day(2020, 2, 29)}, &SearchKey{Op: "SAVEDSINCE", Date: day(2000, 1, 1)}, key("SAVEDATESUPPORTED"))}}},
	{"t SEARCH KEYWORD $Junk UNKEYWORD x SENTBEFORE 1-Jan-2001 SENTON 1-Jan-2001 SENTSINCE 1-Jan-2001 BEFORE 1-Jan-2001 ON 1-Jan-2001 SMALLER 5 ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED BCC a CC b BODY c SUBJECT d TO e\r\n", Command{Tag: "t", Name: "SEARCH", Args: &SearchArgs{Key: and(
		&SearchKey{Op: "KEYWORD", Field: "$Junk"}, &SearchKey{Op: "UNKEYWORD", Field: "x"},
		&SearchKey{Op: "SENTBEFORE", Date: day(2001, 1, 1)}, &SearchKey{Op: "SENTON", Date: day(2001, 1, 1)}, &SearchKey{Op: "SENTSINCE", Date: day(2001, 1, 1)},
		&SearchKey{Op: "BEFORE", Date: day(2001, 1, 1)}, &SearchKey{Op: "ON", Date: day(2001, 1, 1)}, &SearchKey{Op: "SMALLER", Number: 5},
		key("ANSWERED"), key("DELETED"), key("DRAFT"), key("FLAGGED"), key("NEW"), key("OLD"), key("RECENT"), key("SEEN"), key("UNANSWERED"), key("UNDELETED"), key("UNDRAFT"), key("UNFLAGGED"),
		&SearchKey{Op: "BCC", Value: "a"}, &SearchKey{Op: "CC", Value: "b"}, &SearchKey{Op: "BODY", Value: "c"}, &SearchKey{Op: "SUBJECT", Value: "d"}, &SearchKey{Op: "TO", Value: "e"},
	)}}},
	// RFC 5256 3, RFC 5267 3.1, RFC 5957.
	{"t SORT (reverse ARRIVAL cc DATE FROM SIZE REVERSE SUBJECT TO DISPLAYFROM DISPLAYTO) utf-8 ALL\r\n", Command{Tag: "t", Name: "SORT", Args: &SortArgs{Charset: "UTF-8", Key: and(key("ALL")),
		Criteria: []SortCriterion{{Key: "ARRIVAL", Reverse: true}, {Key: "CC"}, {Key: "DATE"}, {Key: "FROM"}, {Key: "SIZE"}, {Key: "SUBJECT", Reverse: true}, {Key: "TO"}, {Key: "DISPLAYFROM"}, {Key: "DISPLAYTO"}}}}},
	{"t UID SORT RETURN (MIN ALL) (DATE) US-ASCII SINCE 1-Feb-1994 UNSEEN\r\n", Command{Tag: "t", Name: "SORT", UID: true, Args: &SortArgs{Charset: "US-ASCII", Return: []string{"MIN", "ALL"},
		Criteria: []SortCriterion{{Key: "DATE"}}, Key: and(&SearchKey{Op: "SINCE", Date: day(1994, 2, 1)}, key("UNSEEN"))}}},
	{"t SORT RETURN () (SIZE) \"UTF-8\" 1:5\r\n", Command{Tag: "t", Name: "SORT", Args: &SortArgs{Charset: "UTF-8", Return: []string{},
		Criteria: []SortCriterion{{Key: "SIZE"}}, Key: and(&SearchKey{Op: "SEQSET", Set: &SeqSet{Ranges: []SeqRange{{1, 5}}}})}}},
	{"t APPEND Drafts CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" TEXT {4+}\r\nhi\r\n url ;UID=2 TEXT ~{1}\r\n\x00)\r\n",
		Command{Tag: "t", Name: "APPEND", Args: &AppendArgs{Mailbox: "Drafts", Messages: []AppendMessage{{Parts: []CatPart{
			{URL: "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER"}, {Text: &Literal{Size: 4, Bytes: []byte("hi\r\n")}},
			{URL: ";UID=2"}, {Text: &Literal{Size: 1, Bytes: []byte{0}}, Binary: true}}}}}}},
	{"t APPEND A (\\Seen) CATENATE (TEXT {1+}\r\nx) {1+}\r\ny\r\n",
		Command{Tag: "t", Name: "APPEND", Args: &AppendArgs{Mailbox: "A", Messages: []AppendMessage{
			{Flags: []string{"\\Seen"}, Parts: []CatPart{{Text: &Literal{Size: 1, Bytes: []byte("x")}}}},
			{Literal: &Literal{Size: 1, Bytes: []byte("y")}}}}}},
	// RFC 8508 3: REPLACE's append-message, CATENATE form included.
	{"t UID REPLACE 4 Drafts (\\Draft) CATENATE (URL \";UID=4/;section=TEXT\" TEXT {4+}\r\nhi\r\n)\r\n",
		Command{Tag: "t", Name: "REPLACE", UID: true, Args: &ReplaceArgs{Num: 4, Mailbox: "Drafts", Message: AppendMessage{Flags: []string{"\\Draft"},
			Parts: []CatPart{{URL: ";UID=4/;section=TEXT"}, {Text: &Literal{Size: 4, Bytes: []byte("hi\r\n")}}}}}}},
	{"t THREAD references UTF-8 ALL\r\n", Command{Tag: "t", Name: "THREAD", Args: &ThreadArgs{Algorithm: "REFERENCES", Charset: "UTF-8", Key: and(key("ALL"))}}},
	{"t UID THREAD ORDEREDSUBJECT US-ASCII SUBJECT x DELETED\r\n", Command{Tag: "t", Name: "THREAD", UID: true, Args: &ThreadArgs{Algorithm: "ORDEREDSUBJECT", Charset: "US-ASCII",
		Key: and(&SearchKey{Op: "SUBJECT", Value: "x"}, key("DELETED"))}}},
}

func TestReadCommandGood(t *testing.T) {
	for _, tc := range goodCommands {
		d := newTestDecoder(tc.in+"z NOOP\r\n", DecoderOptions{}, nil)
		cmd, err := d.ReadCommand()
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got, want := dump(cmd), dump(&tc.want); got != want {
			t.Errorf("%q:\n got %s\nwant %s", tc.in, got, want)
		}
		next, err := d.ReadCommand()
		if err != nil || next.Tag != "z" || next.Name != "NOOP" {
			t.Errorf("%q: next command: %+v, %v", tc.in, next, err)
		}
		if _, err := d.ReadCommand(); err != io.EOF {
			t.Errorf("%q: at end: %v, want io.EOF", tc.in, err)
		}
	}
}

func TestAppend(t *testing.T) {
	var conts []int64
	in := "A003 APPEND saved-messages (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {11}\r\nhello world\r\n" +
		"A004 APPEND INBOX ~{3+}\r\na\x00b (\\Draft) \"17-Jul-1996 02:44:25 +0200\" {2}\r\nhi {0+}\r\n\r\n"
	d := newTestDecoder(in, DecoderOptions{}, &conts)
	cmd, err := d.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	a := cmd.Args.(*AppendArgs)
	if a.Mailbox != "saved-messages" || len(a.Messages) != 1 {
		t.Fatalf("%+v", a)
	}
	m := a.Messages[0]
	want := time.Date(1994, 2, 7, 21, 52, 25, 0, time.FixedZone("", -8*3600))
	if !m.Date.Equal(want) || dump(m.Flags) != `["\\Seen"]` || string(m.Literal.Bytes) != "hello world" || m.Binary {
		t.Fatalf("%+v %v", m, m.Date)
	}
	if _, off := m.Date.Zone(); off != -8*3600 {
		t.Errorf("zone offset %d", off)
	}
	cmd, err = d.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	a = cmd.Args.(*AppendArgs)
	if len(a.Messages) != 3 {
		t.Fatalf("%d messages", len(a.Messages))
	}
	if !a.Messages[0].Binary || string(a.Messages[0].Literal.Bytes) != "a\x00b" || a.Messages[0].Flags != nil {
		t.Errorf("message 0: %+v", a.Messages[0])
	}
	if string(a.Messages[1].Literal.Bytes) != "hi" || a.Messages[1].Date.Day() != 17 || a.Messages[1].Flags[0] != `\Draft` {
		t.Errorf("message 1: %+v", a.Messages[1])
	}
	if a.Messages[2].Literal.Size != 0 {
		t.Errorf("message 2: %+v", a.Messages[2])
	}
	if dump(conts) != "[11,2]" {
		t.Errorf("continuations %v", conts)
	}
}

func TestAppendSpool(t *testing.T) {
	dir := t.TempDir()
	body := strings.Repeat("x", 5000)
	in := "a APPEND INBOX {5000+}\r\n" + body + " {10}\r\n0123456789\r\n"
	d := newTestDecoder(in, DecoderOptions{SpoolAbove: 4096, SpoolDir: dir}, nil)
	cmd, err := d.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	msgs := cmd.Args.(*AppendArgs).Messages
	l := msgs[0].Literal
	if l.File == nil || l.Bytes != nil || l.Size != 5000 {
		t.Fatalf("not spooled: %+v", l)
	}
	b, _ := io.ReadAll(l.Reader())
	if string(b) != body {
		t.Errorf("spooled content differs")
	}
	if msgs[1].Literal.File != nil || string(msgs[1].Literal.Bytes) != "0123456789" {
		t.Errorf("second message: %+v", msgs[1].Literal)
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	// Both a mem-held small message and a spooled one make the budget:
	// 3000+3000 > 4096 spools the second.
	in = "a APPEND INBOX {3000+}\r\n" + body[:3000] + " {3000+}\r\n" + body[:3000] + "\r\n"
	d = newTestDecoder(in, DecoderOptions{SpoolAbove: 4096, SpoolDir: dir}, nil)
	cmd, err = d.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	msgs = cmd.Args.(*AppendArgs).Messages
	if msgs[0].Literal.File != nil || msgs[1].Literal.File == nil {
		t.Errorf("spooling decisions wrong")
	}
	msgs[1].Literal.Close()
	// A failed APPEND releases what it spooled.
	in = "a APPEND INBOX {5000+}\r\n" + body + " BAD\r\nb NOOP\r\n"
	d = newTestDecoder(in, DecoderOptions{SpoolAbove: 4096, SpoolDir: dir}, nil)
	if _, err := d.ReadCommand(); err == nil {
		t.Fatal("no error")
	}
	if cmd, err := d.ReadCommand(); err != nil || cmd.Tag != "b" {
		t.Fatalf("next: %v %v", cmd, err)
	}
	if ents, _ := readDir(dir); len(ents) != 0 {
		t.Errorf("spool files left: %v", ents)
	}
}

func TestReadLine(t *testing.T) {
	d := newTestDecoder("a IDLE\r\nDONE\r\nb AUTHENTICATE PLAIN\r\nAHVzZXIAcGFzcw==\r\n"+strings.Repeat("x", 200)+"\r\nc NOOP\r\n", DecoderOptions{MaxLine: 100}, nil)
	if cmd, err := d.ReadCommand(); err != nil || cmd.Name != "IDLE" {
		t.Fatal(cmd, err)
	}
	if l, err := d.ReadLine(); err != nil || string(l) != "DONE" {
		t.Fatalf("%q %v", l, err)
	}
	if cmd, err := d.ReadCommand(); err != nil || cmd.Name != "AUTHENTICATE" {
		t.Fatal(cmd, err)
	}
	l, err := d.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	if ir, err := DecodeSASL(l); err != nil || string(ir) != "\x00user\x00pass" {
		t.Fatalf("%q %v", ir, err)
	}
	var ce *CommandError
	if _, err := d.ReadLine(); !errors.As(err, &ce) {
		t.Fatalf("overlong line: %v", err)
	}
	if cmd, err := d.ReadCommand(); err != nil || cmd.Tag != "c" {
		t.Fatal(cmd, err)
	}
	if _, err := d.ReadLine(); err != io.EOF {
		t.Fatal(err)
	}
}

func TestSetUTF8(t *testing.T) {
	d := newTestDecoder("a SELECT \"Entwürfe\"\r\nb SELECT Entw&APw-rfe\r\nc SELECT Entwürfe\r\n", DecoderOptions{}, nil)
	if _, err := d.ReadCommand(); err == nil {
		t.Fatal("8-bit quoted string accepted without UTF8=ACCEPT")
	}
	d.SetUTF8(true)
	cmd, err := d.ReadCommand()
	if err != nil || cmd.Args.(*SelectArgs).Mailbox != "Entw&APw-rfe" {
		t.Fatalf("%v %v", cmd, err)
	}
	cmd, err = d.ReadCommand()
	if err != nil || cmd.Args.(*SelectArgs).Mailbox != "Entwürfe" {
		t.Fatalf("%v %v", cmd, err)
	}
}
