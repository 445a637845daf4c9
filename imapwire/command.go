// Package imapwire turns IMAP bytes into commands and responses into bytes.
// It knows RFC 9051 and RFC 3501 syntax and the extensions Dormouse
// speaks, and nothing about storage.
package imapwire

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"time"
)

// Command is one parsed client command.
type Command struct {
	Tag  string
	Name string // upper case: "FETCH", "UID" is folded into UID
	UID  bool   // the command came as UID FETCH, UID STORE, ...
	// Args is one of the *...Args types below, or nil for commands without
	// arguments (CAPABILITY, NOOP, LOGOUT, STARTTLS, IDLE, CHECK, CLOSE,
	// UNSELECT, NAMESPACE, EXPUNGE).
	Args any
}

// LoginArgs are LOGIN's arguments.
type LoginArgs struct{ Username, Password string }

// AuthenticateArgs are AUTHENTICATE's arguments. InitialResponse is nil
// without SASL-IR and empty for "=" (RFC 4959).
type AuthenticateArgs struct {
	Mechanism       string // upper case
	InitialResponse []byte // decoded from base64
}

// EnableArgs are ENABLE's capability names, upper case.
type EnableArgs struct{ Caps []string }

// SelectArgs are SELECT's and EXAMINE's arguments.
type SelectArgs struct {
	Mailbox   string // decoded to UTF-8
	ReadOnly  bool   // EXAMINE
	CondStore bool   // (CONDSTORE) parameter, RFC 7162 3.1.8
	QResync   *QResyncArgs
}

// QResyncArgs are the (QRESYNC ...) select parameter, RFC 7162 3.2.5.
type QResyncArgs struct {
	UIDValidity  uint32
	ModSeq       uint64
	KnownUIDs    *SeqSet // may be nil
	SeqMatchSeqs *SeqSet // may be nil
	SeqMatchUIDs *SeqSet // may be nil
}

// MailboxArgs are the single argument of DELETE, SUBSCRIBE, UNSUBSCRIBE.
type MailboxArgs struct{ Mailbox string }

// CreateArgs are CREATE's arguments (RFC 6154 USE parameter).
type CreateArgs struct {
	Mailbox    string
	SpecialUse []string
}

// RenameArgs are RENAME's arguments.
type RenameArgs struct{ From, To string }

// ListArgs are LIST's (and LSUB's) arguments, RFC 5258 and RFC 5819.
type ListArgs struct {
	LSUB      bool
	Reference string
	Patterns  []string
	// Selection options, upper case: SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE.
	Select []string
	// Return options.
	ReturnSubscribed bool
	ReturnChildren   bool
	ReturnSpecialUse bool
	ReturnStatus     []string // STATUS items, nil when not asked
}

// StatusArgs are STATUS's arguments; Items are upper case
// (MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN, DELETED, SIZE, RECENT, HIGHESTMODSEQ).
type StatusArgs struct {
	Mailbox string
	Items   []string
}

// AppendArgs are APPEND's arguments; more than one message is MULTIAPPEND
// (RFC 3502).
type AppendArgs struct {
	Mailbox  string
	Messages []AppendMessage
}

// Close removes the spooled literals of every message.
func (a *AppendArgs) Close() {
	for i := range a.Messages {
		a.Messages[i].close()
	}
}

// ReplaceArgs are REPLACE's and UID REPLACE's arguments (RFC 8508).
type ReplaceArgs struct {
	Num     uint32 // the message replaced: a sequence number, or a UID for UID REPLACE
	Mailbox string // where the new message goes
	Message AppendMessage
}

// Close removes the spooled literal of the message.
func (a *ReplaceArgs) Close() { a.Message.close() }

// AppendMessage is one message of an APPEND command.
type AppendMessage struct {
	Flags   []string
	Date    time.Time // zero when absent
	Binary  bool      // sent as literal8 ~{n}, RFC 3516
	Literal *Literal  // nil for a CATENATE message
	// Parts are the parts of a CATENATE message (RFC 4469), nil for a
	// message sent as one literal.
	Parts []CatPart
}

// close removes the message's spooled literal, or its TEXT parts'.
func (m *AppendMessage) close() {
	m.Literal.Close()
	for _, p := range m.Parts {
		p.Text.Close()
	}
}

// CatPart is one part of a CATENATE message: a TEXT literal or a URL
// (RFC 4469 5).
type CatPart struct {
	Text   *Literal // set for TEXT
	Binary bool     // TEXT sent as literal8
	URL    string   // set for URL, as sent
}

// Literal holds a literal's bytes: in memory when small, spooled to a
// temporary file when large. Close releases the file.
type Literal struct {
	Size  int64
	Bytes []byte   // set when held in memory
	File  *os.File // set when spooled; removed on Close
}

// Reader returns a reader over the literal from its start.
func (l *Literal) Reader() io.Reader {
	if l.File != nil {
		return io.NewSectionReader(l.File, 0, l.Size)
	}
	return &byteReader{b: l.Bytes}
}

// ReaderAt returns the literal's bytes for reading at any offset.
func (l *Literal) ReaderAt() io.ReaderAt {
	if l.File != nil {
		return io.NewSectionReader(l.File, 0, l.Size)
	}
	return bytes.NewReader(l.Bytes)
}

// Close removes a spooled literal's file.
func (l *Literal) Close() error {
	if l == nil || l.File == nil {
		return nil
	}
	name := l.File.Name()
	err := l.File.Close()
	if rmErr := os.Remove(name); err == nil && rmErr != nil && !os.IsNotExist(rmErr) {
		err = rmErr
	}
	l.File = nil
	return err
}

type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

// ExpungeArgs are UID EXPUNGE's arguments (RFC 4315); nil Args for EXPUNGE.
type ExpungeArgs struct{ Set SeqSet }

// SearchArgs are SEARCH's arguments (RFC 9051 6.4.4, RFC 4731 ESEARCH).
type SearchArgs struct {
	Charset string // "" when absent, else upper case
	// Return holds RETURN options upper case (MIN, MAX, ALL, COUNT, SAVE,
	// PARTIAL, UPDATE, CONTEXT); nil when there was no RETURN, empty for "RETURN ()".
	Return  []string
	Partial *PartialRange // the range of RETURN (PARTIAL ...), RFC 9394
	Key     *SearchKey
}

// PartialRange is a range of RFC 9394 PARTIAL: the results From to To
// (1-based, in either order: 500:400 is 400:500) of a search, or of the
// messages a UID FETCH names; counted from the last one when Last is
// set (-1:-100 is the last hundred). String gives it back as sent.
type PartialRange struct {
	From, To uint32
	Last     bool
}

// String formats the range as partial-range.
func (r PartialRange) String() string {
	if r.Last {
		return "-" + strconv.FormatUint(uint64(r.From), 10) + ":-" + strconv.FormatUint(uint64(r.To), 10)
	}
	return strconv.FormatUint(uint64(r.From), 10) + ":" + strconv.FormatUint(uint64(r.To), 10)
}

// Bounds returns the indexes [lo, hi) of the range in a list of n
// results; lo == hi when no result falls in it.
func (r PartialRange) Bounds(n int) (lo, hi int) {
	a, b := int64(min(r.From, r.To)), int64(max(r.From, r.To))
	if r.Last {
		// -a is index n-a: the range runs from n-b to n-a.
		a, b = int64(n)-b+1, int64(n)-a+1
	}
	lo64, hi64 := max(a-1, 0), min(b, int64(n))
	if lo64 >= hi64 {
		return 0, 0
	}
	return int(lo64), int(hi64)
}

// SearchKey is a node of a search expression. Op is upper case and one of
// the RFC 9051 keys (ALL, ANSWERED, BCC, BEFORE, BODY, CC, DELETED, DRAFT,
// FLAGGED, FROM, HEADER, KEYWORD, LARGER, NEW, NOT, OLD, ON, OR, RECENT,
// SEEN, SENTBEFORE, SENTON, SENTSINCE, SINCE, SMALLER, SUBJECT, TEXT, TO,
// UID, UNANSWERED, UNDELETED, UNDRAFT, UNFLAGGED, UNKEYWORD, UNSEEN,
// MODSEQ, OLDER, YOUNGER, SAVEDBEFORE, SAVEDON, SAVEDSINCE, SAVEDATESUPPORTED,
// EMAILID, THREADID)
// or "SEQSET" for a bare sequence set and "AND" for a parenthesized list
// (and the top level).
type SearchKey struct {
	Op       string
	Field    string    // HEADER field name, KEYWORD flag
	Value    string    // string argument (FROM, BODY, HEADER value, EMAILID, ...)
	Date     time.Time // date argument (midnight UTC of that day)
	Number   uint64    // LARGER, SMALLER, MODSEQ, OLDER, YOUNGER
	Set      *SeqSet   // SEQSET and UID
	Children []*SearchKey
}

// FetchArgs are FETCH's arguments.
type FetchArgs struct {
	Set          SeqSet
	Items        []FetchItem // macros (ALL, FAST, FULL) already expanded
	ChangedSince uint64      // RFC 7162 CHANGEDSINCE, 0 when absent
	Vanished     bool        // RFC 7162 VANISHED modifier (UID FETCH only)
	// PartialRange is the RFC 9394 3.3 PARTIAL modifier, nil when absent.
	PartialRange *PartialRange
}

// FetchItem is one FETCH data item.
type FetchItem struct {
	// Name is upper case: FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE,
	// BODYSTRUCTURE, BODY (without section: non-extensible structure), UID,
	// MODSEQ, SAVEDATE, RFC822, RFC822.HEADER, RFC822.TEXT, BODY[] (Name
	// "BODY" with Section set), BINARY, BINARY.SIZE, EMAILID, THREADID,
	// PREVIEW.
	Name    string
	Peek    bool     // BODY.PEEK / BINARY.PEEK
	Lazy    bool     // PREVIEW (LAZY), RFC 8970 3.1
	Section *Section // set for BODY[...], BINARY[...], BINARY.SIZE[...]
	Partial *Partial
}

// Section is a body section specifier, RFC 9051 6.4.5.
type Section struct {
	Part      []int    // 1-based part path; empty for the whole message
	Specifier string   // "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
	Fields    []string // for HEADER.FIELDS (.NOT), as given
}

// Partial is a <offset.count> partial range.
type Partial struct{ Offset, Count uint32 }

// StoreArgs are STORE's arguments.
type StoreArgs struct {
	Set            SeqSet
	Op             StoreOp
	Silent         bool
	Flags          []string
	UnchangedSince *uint64 // RFC 7162 3.1.3, nil when absent
}

// StoreOp says how STORE combines flags.
type StoreOp int

// STORE forms.
const (
	StoreAdd     StoreOp = iota // +FLAGS
	StoreRemove                 // -FLAGS
	StoreReplace                // FLAGS
)

// CopyArgs are COPY's and MOVE's arguments.
type CopyArgs struct {
	Set     SeqSet
	Mailbox string
}

// IDArgs are ID's parameters (RFC 2971); nil Params for NIL.
type IDArgs struct{ Params []string } // key, value, key, value...

// SeqSet is a sequence set (RFC 9051 9, "sequence-set"), or "$" (RFC 5182).
type SeqSet struct {
	Ranges []SeqRange
	Saved  bool // "$": the saved search result
}

// SeqRange is a range as the client wrote it; 0 stands for "*". The
// server resolves "*" against the mailbox and orders the two ends.
type SeqRange struct{ Start, Stop uint32 }
