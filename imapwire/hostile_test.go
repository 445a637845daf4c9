package imapwire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// hostile is a malformed or hostile command and the refusal it must get.
type hostile struct {
	name string
	in   string
	tag  string // expected CommandError.Tag
	no   bool   // NO [TOOBIG] instead of BAD
	// badName: NO without a code, for a mailbox name no mailbox can have
	// (not valid modified UTF-7): the command itself is well formed.
	badName bool
	opts    DecoderOptions
}

var hostileInputs = []hostile{
	{name: "plus in tag", in: "a+b NOOP\r\n"},
	{name: "star tag", in: "* NOOP\r\n"},
	{name: "paren in tag", in: "(a NOOP\r\n"},
	{name: "brace in tag", in: "a{ NOOP\r\n"},
	{name: "quote in tag", in: "\"a\" NOOP\r\n"},
	{name: "leading space", in: " a NOOP\r\n"},
	{name: "tag only", in: "abc\r\n", tag: "abc"},
	{name: "tag and space", in: "abc \r\n", tag: "abc"},
	{name: "unknown command", in: "a FROB x\r\n", tag: "a"},
	{name: "unknown UID command", in: "a UID NOOP\r\n", tag: "a"},
	{name: "UID alone", in: "a UID\r\n", tag: "a"},
	{name: "missing password", in: "a LOGIN joe\r\n", tag: "a"},
	{name: "missing mailbox", in: "a SELECT\r\n", tag: "a"},
	{name: "extra args NOOP", in: "a NOOP extra\r\n", tag: "a"},
	{name: "extra args LOGIN", in: "a LOGIN a b c\r\n", tag: "a"},
	{name: "double space", in: "a LOGIN  joe x\r\n", tag: "a"},
	{name: "trailing space", in: "a CAPABILITY \r\n", tag: "a"},
	{name: "unclosed fetch list", in: "a FETCH 1 (FLAGS\r\n", tag: "a"},
	{name: "extra close paren", in: "a FETCH 1 FLAGS)\r\n", tag: "a"},
	{name: "unclosed search paren", in: "a SEARCH (SEEN (FLAGGED)\r\n", tag: "a"},
	{name: "extra search paren", in: "a SEARCH SEEN)\r\n", tag: "a"},
	{name: "empty search parens", in: "a SEARCH ()\r\n", tag: "a"},
	{name: "seqset zero", in: "a FETCH 0 FLAGS\r\n", tag: "a"},
	{name: "seqset open range", in: "a FETCH 1: FLAGS\r\n", tag: "a"},
	{name: "seqset letter", in: "a FETCH a FLAGS\r\n", tag: "a"},
	{name: "seqset double comma", in: "a FETCH 1,,2 FLAGS\r\n", tag: "a"},
	{name: "seqset trailing comma", in: "a COPY 1, x\r\n", tag: "a"},
	{name: "seqset too large", in: "a FETCH 4294967296 FLAGS\r\n", tag: "a"},
	{name: "seqset dollar mixed", in: "a FETCH $,1 FLAGS\r\n", tag: "a"},
	{name: "seqset zero in range", in: "a UID EXPUNGE 1:0\r\n", tag: "a"},
	{name: "NUL byte", in: "a LOGIN a\x00 b\r\n", tag: "a"},
	{name: "bare CR", in: "a NOOP\rb\r\n", tag: "a"},
	{name: "overlong line", in: "a LOGIN " + strings.Repeat("x", 300) + "\r\n", tag: "a", opts: DecoderOptions{MaxLine: 100}},
	{name: "overlong line with non-sync literal", in: "a LOGIN " + strings.Repeat("x", 300) + " {5+}\r\nhello\r\n", tag: "a", opts: DecoderOptions{MaxLine: 100}},
	{name: "unterminated mUTF-7", in: "a SELECT &Jjo\r\n", tag: "a", badName: true},
	{name: "shifted ASCII mUTF-7", in: "a SELECT &AGE-\r\n", tag: "a", badName: true},
	{name: "bad base64 mUTF-7", in: "a RENAME x &Jj!-\r\n", tag: "a", badName: true},
	{name: "adjacent shifts mUTF-7", in: "a DELETE &AOk-&AOk-\r\n", tag: "a", badName: true},
	{name: "8-bit mailbox literal", in: "a SELECT {2}\r\n\xc3\xa9\r\n", tag: "a", badName: true},
	{name: "31 February", in: "a SEARCH SINCE 31-Feb-2020\r\n", tag: "a"},
	{name: "bad month", in: "a SEARCH BEFORE 1-Foo-2020\r\n", tag: "a"},
	{name: "short year", in: "a SEARCH ON \"1-Jan-20\"\r\n", tag: "a"},
	{name: "bad APPEND time", in: "a APPEND INBOX \"01-Jan-2020 25:00:00 +0000\" {1}\r\n", tag: "a"},
	{name: "APPEND date without zone", in: "a APPEND INBOX \"01-Jan-2020 10:00:00\" {1}\r\n", tag: "a"},
	{name: "unknown search key", in: "a SEARCH FROB\r\n", tag: "a"},
	{name: "LARGER not a number", in: "a SEARCH LARGER x\r\n", tag: "a"},
	{name: "OR with one key", in: "a SEARCH OR SEEN\r\n", tag: "a"},
	{name: "search nested too deep", in: "a SEARCH " + strings.Repeat("NOT ", 100) + "SEEN\r\n", tag: "a"},
	{name: "search parens too deep", in: "a SEARCH " + strings.Repeat("(", 100) + "SEEN" + strings.Repeat(")", 100) + "\r\n", tag: "a"},
	{name: "MODSEQ bad entry type", in: "a SEARCH MODSEQ \"/flags/x\" mine 5\r\n", tag: "a"},
	{name: "MODSEQ entry name not a flag", in: "a SEARCH MODSEQ \"\" all 5\r\n", tag: "a"},
	{name: "empty search", in: "a SEARCH\r\n", tag: "a"},
	{name: "charset without keys", in: "a SEARCH CHARSET UTF-8\r\n", tag: "a"},
	{name: "unknown fetch item", in: "a FETCH 1 (FLAGS FROB)\r\n", tag: "a"},
	{name: "bad section", in: "a FETCH 1 BODY[HEADER.FROB]\r\n", tag: "a"},
	{name: "section part zero", in: "a FETCH 1 BODY[0]\r\n", tag: "a"},
	{name: "section trailing dot", in: "a FETCH 1 BODY[1.]\r\n", tag: "a"},
	{name: "MIME without part", in: "a FETCH 1 BODY[MIME]\r\n", tag: "a"},
	{name: "HEADER.FIELDS without list", in: "a FETCH 1 BODY[HEADER.FIELDS]\r\n", tag: "a"},
	{name: "unclosed section", in: "a FETCH 1 BODY[TEXT\r\n", tag: "a"},
	{name: "partial zero count", in: "a FETCH 1 BODY[]<1.0>\r\n", tag: "a"},
	{name: "partial without count", in: "a FETCH 1 BODY[]<1>\r\n", tag: "a"},
	{name: "BODY.PEEK without section", in: "a FETCH 1 BODY.PEEK\r\n", tag: "a"},
	{name: "BINARY with text section", in: "a FETCH 1 BINARY[1.TEXT]\r\n", tag: "a"},
	{name: "macro in list", in: "a FETCH 1 (ALL)\r\n", tag: "a"},
	{name: "VANISHED without CHANGEDSINCE", in: "a UID FETCH 1:* FLAGS (VANISHED)\r\n", tag: "a"},
	{name: "VANISHED without UID", in: "a FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)\r\n", tag: "a"},
	{name: "empty backslash flag", in: "a STORE 1 +FLAGS (\\)\r\n", tag: "a"},
	{name: "paren in flag", in: "a STORE 1 +FLAGS (foo(bar)\r\n", tag: "a"},
	{name: "bad store op", in: "a STORE 1 *FLAGS x\r\n", tag: "a"},
	{name: "store without flags", in: "a STORE 1 FLAGS\r\n", tag: "a"},
	{name: "CATENATE without parts", in: "a APPEND INBOX CATENATE ()\r\n", tag: "a"},
	{name: "CATENATE unknown part", in: "a APPEND INBOX CATENATE (FILE \"x\")\r\n", tag: "a"},
	{name: "CATENATE empty URL", in: "a APPEND INBOX CATENATE (URL \"\")\r\n", tag: "a"},
	{name: "CATENATE misspelt", in: "a APPEND INBOX CONCATENATE (URL x)\r\n", tag: "a"},
	{name: "CATENATE unclosed", in: "a APPEND INBOX CATENATE (URL x\r\n", tag: "a"},
	{name: "CATENATE TEXT not a literal", in: "a APPEND INBOX CATENATE (TEXT \"x\")\r\n", tag: "a"},
	{name: "CATENATE too many parts", in: "a APPEND INBOX CATENATE (" + strings.Repeat("URL x ", MaxCatenateParts) + "URL x)\r\n", tag: "a",
		opts: DecoderOptions{MaxLine: 16 << 10}},
	{name: "GENURLAUTH without mechanism", in: "a GENURLAUTH \"imap://h/INBOX/;UID=1;URLAUTH=anonymous\"\r\n", tag: "a"},
	{name: "GENURLAUTH without URL", in: "a GENURLAUTH\r\n", tag: "a"},
	{name: "URLFETCH without URL", in: "a URLFETCH\r\n", tag: "a"},
	{name: "URLFETCH BINARY and BODY", in: "a URLFETCH (u BINARY BODY)\r\n", tag: "a"},
	{name: "URLFETCH unknown parameter", in: "a URLFETCH (u ENVELOPE)\r\n", tag: "a"},
	{name: "URLFETCH parameter twice", in: "a URLFETCH (u BODY BODY)\r\n", tag: "a"},
	{name: "URLFETCH unclosed", in: "a URLFETCH (u BODY\r\n", tag: "a"},
	{name: "RESETKEY trailing space", in: "a RESETKEY INBOX \r\n", tag: "a"},
	{name: "bad APPEND flags", in: "a APPEND INBOX (\\Seen {1}\r\n", tag: "a"},
	{name: "8-bit in atom", in: "a LOGIN j\xc3\xb6e x\r\n", tag: "a"},
	{name: "invalid UTF-8 in quoted", in: "a LOGIN \"j\xffe\" x\r\n", tag: "a"},
	{name: "bad escape", in: "a LOGIN \"a\\nb\" x\r\n", tag: "a"},
	{name: "unterminated quoted", in: "a LOGIN \"abc\r\n", tag: "a"},
	{name: "4 GiB APPEND literal", in: "a APPEND INBOX {4294967296}\r\n", tag: "a", no: true},
	{name: "4 GiB LOGIN literal", in: "a LOGIN {4294967296}\r\n", tag: "a", no: true},
	{name: "absurd literal", in: "a APPEND INBOX {99999999999999999999999999}\r\n", tag: "a", no: true},
	{name: "non-sync literal over the limit", in: "a APPEND INBOX {2000+}\r\n" + strings.Repeat("m", 2000) + "\r\n", tag: "a", no: true, opts: DecoderOptions{MaxLiteral: 1000}},
	{name: "string literal over the text budget", in: "a LOGIN {500}\r\n", tag: "a", no: true, opts: DecoderOptions{MaxLine: 100}},
	{name: "NUL in literal", in: "a LOGIN {3}\r\na\x00b x\r\n", tag: "a"},
	{name: "error before non-sync literals", in: "a LOGIN {1+}\r\nx {1+}\r\ny extra {3+}\r\nabc\r\n", tag: "a"},
	{name: "bad literal announcement", in: "a LOGIN {abc}\r\n", tag: "a"},
	{name: "literal not at end of line", in: "a LOGIN {3} x\r\n", tag: "a"},
	{name: "literal8 in LOGIN", in: "a LOGIN ~{3}\r\n", tag: "a"},
	{name: "unknown status item", in: "a STATUS INBOX (MESSAGES FROB)\r\n", tag: "a"},
	{name: "empty status list", in: "a STATUS INBOX ()\r\n", tag: "a"},
	{name: "unknown LIST select option", in: "a LIST (FROB) \"\" *\r\n", tag: "a"},
	{name: "RECURSIVEMATCH alone", in: "a LIST (RECURSIVEMATCH) \"\" *\r\n", tag: "a"},
	{name: "unknown LIST return option", in: "a LIST \"\" * RETURN (FROB)\r\n", tag: "a"},
	{name: "SORT without criteria", in: "a SORT () UTF-8 ALL\r\n", tag: "a"},
	{name: "SORT unknown key", in: "a SORT (FROB) UTF-8 ALL\r\n", tag: "a"},
	{name: "SORT REVERSE last", in: "a SORT (DATE REVERSE) UTF-8 ALL\r\n", tag: "a"},
	{name: "SORT REVERSE twice", in: "a SORT (REVERSE REVERSE DATE) UTF-8 ALL\r\n", tag: "a"},
	{name: "SORT without charset", in: "a SORT (DATE) ALL\r\n", tag: "a"},
	{name: "SORT without keys", in: "a SORT (DATE) UTF-8\r\n", tag: "a"},
	{name: "SORT unknown return option", in: "a SORT RETURN (FROB) (DATE) UTF-8 ALL\r\n", tag: "a"},
	{name: "THREAD without keys", in: "a THREAD REFERENCES UTF-8\r\n", tag: "a"},
	{name: "UID THREAD without algorithm", in: "a UID THREAD\r\n", tag: "a"},
	{name: "ID not a list", in: "a ID foo\r\n", tag: "a"},
	{name: "ID odd list", in: "a ID (\"name\")\r\n", tag: "a"},
	{name: "bad SASL-IR", in: "a AUTHENTICATE PLAIN ***\r\n", tag: "a"},
	{name: "UID EXPUNGE without set", in: "a UID EXPUNGE\r\n", tag: "a"},
	{name: "unknown select parameter", in: "a SELECT INBOX (FROB)\r\n", tag: "a"},
	{name: "QRESYNC zero modseq", in: "a SELECT INBOX (QRESYNC (1 0))\r\n", tag: "a"},
	{name: "CREATE bad USE", in: "a CREATE x (USE (Drafts))\r\n", tag: "a"},
	{name: "ENABLE without capability", in: "a ENABLE\r\n", tag: "a"},
	{name: "UNCHANGEDSINCE twice", in: "a STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) FLAGS x\r\n", tag: "a"},
}

func TestReadCommandHostile(t *testing.T) {
	if len(hostileInputs) < 40 {
		t.Fatalf("only %d hostile inputs", len(hostileInputs))
	}
	for _, tc := range hostileInputs {
		var conts []int64
		d := newTestDecoder(tc.in+"z NOOP\r\n", tc.opts, &conts)
		cmd, err := d.ReadCommand()
		var ce *CommandError
		if !errors.As(err, &ce) {
			t.Errorf("%s: got %+v, %v; want a CommandError", tc.name, cmd, err)
			continue
		}
		wantNO, wantCode := tc.no || tc.badName, ""
		if tc.no {
			wantCode = "TOOBIG"
		}
		if ce.Tag != tc.tag || ce.NO != wantNO || ce.Code != wantCode {
			t.Errorf("%s: got %#v; want tag %q NO %v code %q", tc.name, ce, tc.tag, wantNO, wantCode)
		}
		if tc.no && len(conts) != 0 {
			t.Errorf("%s: sent a continuation for a refused literal", tc.name)
		}
		next, err := d.ReadCommand()
		if err != nil || next.Tag != "z" || next.Name != "NOOP" {
			t.Errorf("%s: next command: %+v, %v", tc.name, next, err)
		}
	}
}

// A literal that announces more than the client sends ends the connection
// with io.ErrUnexpectedEOF, never a hang or a partial command.
func TestLiteralShort(t *testing.T) {
	for _, in := range []string{
		"a LOGIN {10}\r\nabc",
		"a APPEND INBOX {10+}\r\nabc",
		"a APPEND INBOX {10}\r\n",
		"a LOGIN {3}\r\nabc",
	} {
		d := newTestDecoder(in, DecoderOptions{}, nil)
		_, err := d.ReadCommand()
		var ce *CommandError
		if errors.As(err, &ce) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: %v, want io.ErrUnexpectedEOF", in, err)
		}
	}
}

// A non-synchronizing literal too large even to skip makes the refusal
// Fatal: the server answers it, says BYE and closes.
func TestNonSyncTooLargeToSkip(t *testing.T) {
	for _, in := range []string{
		"a APPEND INBOX {4294967296+}\r\n",
		"a LOGIN {5000+}\r\n",
	} {
		d := newTestDecoder(in, DecoderOptions{MaxLiteral: 100, MaxLine: 100, MaxSkip: 1000}, nil)
		_, err := d.ReadCommand()
		var ce *CommandError
		if !errors.As(err, &ce) || !ce.Fatal || ce.Tag != "a" {
			t.Errorf("%q: %v, want a tagged Fatal CommandError", in, err)
		}
	}
}

// TestLiteralNeverAllocated checks that a huge announcement does not
// allocate: reading it must cost far less than the size announced.
func TestLiteralNeverAllocated(t *testing.T) {
	in := "a APPEND INBOX {4294967296}\r\nb NOOP\r\n"
	allocs := testing.AllocsPerRun(10, func() {
		d := NewDecoder(bufio.NewReader(strings.NewReader(in)), DecoderOptions{})
		d.ReadCommand()
		d.ReadCommand()
	})
	if allocs > 50 {
		t.Errorf("%v allocations", allocs)
	}
}

// An overlong line after a literal belongs to the command already tagged.
func TestOverlongContinuationKeepsTag(t *testing.T) {
	in := "a1 LOGIN {3}\r\nabc" + "x" + strings.Repeat(" y", 100) + "\r\nz NOOP\r\n"
	d := newTestDecoder(in, DecoderOptions{MaxLine: 100}, nil)
	_, err := d.ReadCommand()
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Tag != "a1" {
		t.Fatalf("%#v", err)
	}
	if cmd, err := d.ReadCommand(); err != nil || cmd.Tag != "z" {
		t.Fatal(cmd, err)
	}
}
