// Package mailstore defines how Dormouse stores mail: users, mailboxes,
// messages with UIDs and MODSEQs, and the change events that wake sessions.
//
// Nothing here knows IMAP wire syntax. Mailbox names are UTF-8 with "/" as
// the hierarchy separator; "INBOX" is case-insensitive. Flags are strings:
// system flags with their backslash (`\Seen`, `\Answered`, `\Flagged`,
// `\Deleted`, `\Draft`) and keywords as given (`$Forwarded`, `Junk`).
package mailstore

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"
)

// Errors that callers map to IMAP response codes. Implementations wrap them
// (fmt.Errorf("...: %w", ErrNoMailbox)); test with errors.Is.
var (
	ErrNoMailbox       = errors.New("no such mailbox")         // NONEXISTENT / TRYCREATE
	ErrMailboxExists   = errors.New("mailbox already exists")  // ALREADYEXISTS
	ErrBadName         = errors.New("invalid mailbox name")    // CANNOT
	ErrNotAllowed      = errors.New("operation not permitted") // CANNOT (e.g. delete INBOX)
	ErrHasChildren     = errors.New("mailbox has children")    // used when a delete must keep \Noselect
	ErrNoMessage       = errors.New("no such message")         // message expunged meanwhile
	ErrNoSpace         = errors.New("no space left on device") // OVERQUOTA / temporary failure
	ErrTooBig          = errors.New("message too big")         // TOOBIG
	ErrUIDValidity     = errors.New("uidvalidity changed")     // the view must be dropped
	ErrExpungeLogShort = errors.New("expunge log does not reach back to that modseq")
)

// IsNoSpace reports whether err is a full disk or an exceeded quota
// (ENOSPC, EDQUOT) or is marked ErrNoSpace: what IMAP answers with
// OVERQUOTA and LMTP with a temporary failure.
func IsNoSpace(err error) bool {
	return errors.Is(err, ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// Store is the whole mail store of one server: every user's mail.
type Store interface {
	// User opens a user's mail, creating the user's Maildir with the default
	// mailboxes (INBOX, Drafts, Sent, Trash, Junk, Archive) when it does not
	// exist yet. The index is opened on demand; Close releases the handle.
	User(ctx context.Context, name string) (User, error)

	// Watch calls fn for every change event of one user's mailbox, or of all
	// the user's mailboxes when mailbox is "", and keeps them watched on
	// disk so that changes made by other programs become events. fn runs
	// on the publisher's goroutine and must not block (coalesce into a
	// buffered channel, or record a flag). Watching does not keep the
	// user's index open. With a nil fn Watch only keeps the watch on disk;
	// with user "" (and mailbox "") fn hears every user's events and
	// nothing more is watched on disk. The returned func cancels the watch.
	Watch(user, mailbox string, fn func(Event)) (cancel func())

	// Close stops watchers and closes every open index.
	Close() error
}

// User is one user's mail, held open by a session. Safe for concurrent use.
type User interface {
	Name() string

	// Mailboxes lists every mailbox, sorted by name, INBOX first.
	Mailboxes(ctx context.Context) ([]MailboxInfo, error)
	// CreateMailbox creates a mailbox and any missing parents. specialUse is
	// "" or one RFC 6154 attribute such as `\Sent`.
	CreateMailbox(ctx context.Context, name, specialUse string) error
	// DeleteMailbox deletes a mailbox and its messages. A mailbox with
	// children is emptied and kept as \Noselect (RFC 9051 6.3.5).
	DeleteMailbox(ctx context.Context, name string) error
	// RenameMailbox renames a mailbox and its children; renaming INBOX moves
	// its messages to the new mailbox and leaves INBOX empty (RFC 9051 6.3.6).
	RenameMailbox(ctx context.Context, from, to string) error
	// SetSubscribed subscribes to or unsubscribes from a name, which need not
	// exist (RFC 9051 6.3.7).
	SetSubscribed(ctx context.Context, name string, subscribed bool) error
	// Status returns a mailbox's counters without opening a view.
	Status(ctx context.Context, name string) (Status, error)
	// Mailbox opens a mailbox for reading and changing messages.
	Mailbox(ctx context.Context, name string) (Mailbox, error)

	// Close releases the user's handle; the index closes when no handle
	// remains.
	Close() error
}

// MailboxInfo describes one mailbox as LIST shows it.
type MailboxInfo struct {
	Name       string // UTF-8, "/"-separated
	SpecialUse string // "" or e.g. `\Sent`
	Subscribed bool
	NoSelect   bool // exists only as a parent of others
	// NonExistent is a subscribed name with no mailbox (deleted, or never
	// created): the subscription stays (RFC 9051 6.3.7) and LIST
	// (SUBSCRIBED) shows it as \NonExistent (RFC 5258 3.4).
	NonExistent bool
}

// Status holds a mailbox's counters (RFC 9051 6.3.11, RFC 8438 SIZE).
type Status struct {
	Messages      uint32
	Recent        uint32 // messages with UID >= the mailbox's first-recent UID
	Unseen        uint32
	Deleted       uint32
	Size          int64 // sum of RFC822.SIZE
	UIDNext       uint32
	UIDValidity   uint32
	HighestModSeq uint64
	// DeletedStorage is the RFC822.SIZE sum of the messages flagged
	// \Deleted, filled only where STATUS DELETED-STORAGE asks for it
	// (QuotaUser.DeletedStorage).
	DeletedStorage int64
	// MailboxID is the mailbox's RFC 8474 MAILBOXID, "" when the store
	// keeps none.
	MailboxID string
}

// Message is the index record of one message. A session's view holds
// its messages in a MessageList, which keeps each in 40 bytes.
type Message struct {
	UID          uint32
	ModSeq       uint64
	Flags        []string // sorted; never contains `\Recent`
	Size         int64    // RFC822.SIZE, with CRLF line ends
	InternalDate Timestamp
	SaveDate     Timestamp // zero when unknown
}

// Timestamp is a time in Unix nanoseconds: 8 bytes where a time.Time
// takes 24.
type Timestamp int64

// Time returns the timestamp in the local time zone.
func (t Timestamp) Time() time.Time { return time.Unix(0, int64(t)) }

// StoreOp says how Mailbox.StoreFlags combines flags.
type StoreOp int

// The three STORE forms.
const (
	FlagsAdd StoreOp = iota
	FlagsRemove
	FlagsReplace
)

// Mailbox is an open mailbox of one user. Safe for concurrent use.
type Mailbox interface {
	Name() string
	UIDValidity() uint32

	// Append stores a message and returns its UID only after the file and
	// its directory are fsynced and the index is committed. A zero date
	// means now. r is read to its end; the message is stored as given
	// (bare LF line ends are kept on disk; Size counts CRLF).
	Append(ctx context.Context, r io.Reader, flags []string, date time.Time) (uid uint32, err error)
	// AppendMany stores several messages atomically (MULTIAPPEND): all or none.
	AppendMany(ctx context.Context, msgs []AppendRequest) (uids []uint32, err error)

	// Open returns a message's content for reading, from any offset,
	// without loading it whole into memory. Content has CRLF line ends.
	Open(ctx context.Context, uid uint32) (Content, error)

	// StoreFlags changes the flags of the messages in uids. With
	// unchangedSince > 0, messages whose MODSEQ is greater are left alone
	// and returned in failed (RFC 7162 3.1.3). changed lists the new records
	// of messages whose flags really changed (each with a new MODSEQ).
	StoreFlags(ctx context.Context, uids []uint32, op StoreOp, flags []string, unchangedSince uint64) (changed []Message, failed []uint32, err error)

	// Copy copies messages into another mailbox of the same user, keeping
	// flags and internal dates. Returns source and destination UIDs in
	// matching order and the destination's UIDVALIDITY.
	Copy(ctx context.Context, uids []uint32, dest string) (CopyResult, error)
	// Move moves messages like Copy, then expunges them here.
	Move(ctx context.Context, uids []uint32, dest string) (CopyResult, error)

	// Expunge removes messages flagged \Deleted; with uids != nil only those
	// among uids (UID EXPUNGE). Returns the expunged UIDs, ascending.
	Expunge(ctx context.Context, uids []uint32) ([]uint32, error)

	// ChangesSince reports what changed after modseq: messages whose MODSEQ
	// is greater (new or with changed flags) and UIDs expunged after it.
	// ErrExpungeLogShort says the expunge log was trimmed past modseq; the
	// caller then compares UID lists instead.
	ChangesSince(ctx context.Context, modseq uint64) (Changes, error)

	// Snapshot returns every message of the mailbox at one MODSEQ. Its
	// Messages may be shared with other callers: read-only.
	Snapshot(ctx context.Context) (Snapshot, error)

	// Close releases the mailbox handle.
	Close() error
}

// AppendRequest is one message of AppendMany.
type AppendRequest struct {
	Body  io.Reader
	Flags []string
	Date  time.Time
}

// CopyResult maps source UIDs to destination UIDs (RFC 4315 COPYUID).
type CopyResult struct {
	UIDValidity uint32
	SourceUIDs  []uint32
	DestUIDs    []uint32
}

// Content is a message's bytes.
type Content interface {
	io.ReaderAt
	io.Reader
	Size() int64
	Close() error
}

// ManyOpener is implemented by a Mailbox that opens several messages for
// the price of one read of its index: a search checking every message of
// a mailbox spent a quarter of its time in Open's index reads.
type ManyOpener interface {
	// OpenMany looks up the messages uids in one read of the index and
	// returns open, which opens uids[i] as Open would (ErrNoMessage for
	// a message that is not there). open may be called for any of them,
	// in any order, from several goroutines.
	OpenMany(ctx context.Context, uids []uint32) (open func(i int) (Content, error), err error)
}

// Changes is the answer of ChangesSince.
type Changes struct {
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Changed       []Message // MODSEQ > the asked modseq, ascending by UID
	Expunged      []uint32  // ascending
	// Keywords are the keywords in use in the mailbox now, sorted, as
	// Snapshot.Keywords: a caller can tell that the set grew (RFC 9051
	// 7.3.5 FLAGS).
	Keywords []string
}

// EnvelopeCache is implemented by a Mailbox that keeps each message's
// envelope header (the fields ENVELOPE reports, as imapmsg's
// Message.EnvelopeHeader gives them) beside its index, as Dovecot keeps
// cached fields, so that FETCH ENVELOPE and the header keys of SEARCH do
// not open every message.
type EnvelopeCache interface {
	// EnvelopeHeaders returns the envelope header block of each message
	// of uids, in order, nil for a message that is gone. Blocks not kept
	// yet are read from the messages and kept.
	EnvelopeHeaders(ctx context.Context, uids []uint32) ([][]byte, error)
}

// SortCache is implemented by a Mailbox that keeps, beside each message's
// envelope header, a small record its caller derived from it: imapserver
// keeps there what SORT and THREAD compare (sortrec.go), so that those
// commands read one record per message instead of parsing its header
// each time, as Dovecot keeps its sort keys in its index. A record lives
// as long as the message's envelope entry; the store does not look
// inside it.
type SortCache interface {
	// SortRecords calls fn(i, rec) for each message uids[i] that has a
	// record kept, in order; uids must be ascending. rec is valid only
	// during the call.
	SortRecords(ctx context.Context, uids []uint32, fn func(i int, rec []byte)) error
	// KeepSortRecords keeps records by UID, skipping messages that are
	// gone.
	KeepSortRecords(recs map[uint32][]byte) error
}

// PreviewCache is implemented by a Mailbox that keeps, beside each
// message's index entry, a small record its caller made from the message:
// imapserver keeps there the RFC 8970 PREVIEW it computed, so that FETCH
// PREVIEW parses a message once, not at every FETCH (webmail asks it for
// every page of a list). The store does not look inside the record; it
// lives as long as the message's envelope entry.
type PreviewCache interface {
	// Previews calls fn(i, rec) for each message uids[i] that has a
	// record kept, in order; uids must be ascending. rec is valid only
	// during the call.
	Previews(ctx context.Context, uids []uint32, fn func(i int, rec []byte)) error
	// KeepPreviews keeps records by UID, skipping messages that are gone.
	KeepPreviews(recs map[uint32][]byte) error
}

// ExpungedRecords is implemented by a Mailbox whose expunge log keeps the
// records of expunged messages. A session keeps showing a message another
// session expunged, as it last saw it, until it is told of the expunge
// (RFC 9051 7.5.1 forbids EXPUNGE during FETCH, STORE and SEARCH); a
// session rebuilt from the UIDs it knows (a hibernated one, woken by a
// command) takes the records it no longer finds from here.
type ExpungedRecords interface {
	// ExpungedMessages returns the records, as they were when expunged,
	// of the messages expunged with MODSEQ > modseq that the log still
	// holds, ascending by UID.
	ExpungedMessages(ctx context.Context, modseq uint64) ([]Message, error)
}

// MessageReader is implemented by a Mailbox that reads the records of a
// few messages by UID, without a Snapshot of them all: a hibernated
// session answers Thunderbird's keepalive `UID FETCH <uidnext>:* (FLAGS)`
// asleep with the last message's record.
type MessageReader interface {
	// Messages returns the records of the messages of uids (ascending)
	// that the mailbox holds, ascending by UID; UIDs of no message are
	// left out.
	Messages(ctx context.Context, uids []uint32) ([]Message, error)
}

// ObjectIDs is implemented by a Mailbox that gives the object identifiers
// of RFC 8474: a MAILBOXID that a rename keeps and a new mailbox of the
// same name does not get, and an EMAILID per message that lasts as long
// as the message and that COPY and MOVE keep.
type ObjectIDs interface {
	MailboxID() string
	// EmailIDs returns the EMAILID of each message of uids, in order,
	// also of messages expunged since the caller's view was made.
	EmailIDs(ctx context.Context, uids []uint32) ([]string, error)
}

// Replacer is implemented by a Mailbox that replaces a message
// atomically (RFC 8508 REPLACE).
type Replacer interface {
	// Replace appends req to the mailbox dest (this one or another of
	// the user's) and expunges uid here, all or nothing. It returns
	// dest's UIDVALIDITY and the new message's UID; ErrNoMessage when
	// uid is gone, ErrNoMailbox when dest does not exist.
	Replace(ctx context.Context, uid uint32, dest string, req AppendRequest) (uidValidity, newUID uint32, err error)
}

// RecentClaimer is implemented by a Mailbox that keeps IMAP4rev1
// \Recent (RFC 3501 2.3.2): a message is recent for one session only,
// the first told of it. ClaimRecent gives the caller the messages from
// the first unclaimed UID up to upTo, the UIDNEXT the caller has learned,
// and returns that range, [from, to); from == to when nothing was left
// to claim. Claims are atomic: no UID is ever in two claims.
type RecentClaimer interface {
	ClaimRecent(ctx context.Context, upTo uint32) (from, to uint32, err error)
}

// Snapshot is every message of a mailbox at one MODSEQ.
type Snapshot struct {
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	// Messages are the messages, ascending by UID; the list may be
	// shared with other snapshots (a writer writes its Share).
	Messages MessageList
	Keywords []string // keywords in use in the mailbox, sorted
}

// EventKind says what an Event is about.
type EventKind int

// Kinds of change events.
const (
	MessagesAdded EventKind = iota + 1
	FlagsChanged
	MessagesExpunged
	MailboxCreated
	MailboxDeleted
	MailboxRenamed
	SubscriptionsChanged
	// MetadataChanged: METADATA entries (RFC 5464) of Mailbox, or of
	// the server when Mailbox is "", were set or removed; Entries names
	// them.
	MetadataChanged
)

// Event is a change notice. It is a hint: watchers refresh their views to
// learn the details. Events come from this process and from changes seen
// on disk.
type Event struct {
	Kind    EventKind
	User    string
	Mailbox string
	OldName string // for MailboxRenamed
	UIDs    []uint32
	Entries []string // for MetadataChanged: the entry names
	// UIDValidity, HighestModSeq and UIDNext are the mailbox's after
	// the change, for the message kinds; 0 when the store does not say.
	UIDValidity   uint32
	HighestModSeq uint64
	UIDNext       uint32
	// At is when the store published the change (or announced it
	// early): where the latency of telling a watcher starts.
	At time.Time
}

// EarlyAnnouncer is an optional capability of a Store: it announces the
// messages a transaction adds before that transaction commits, so that
// a watcher that needs nothing but the announcement (a hibernated
// connection sending EXISTS) does not wait for the commit's fsyncs
// (docs/design.md, "Early announcement"). The committed change comes
// afterwards as an Event, as from any store; a watcher that reads the
// mailbox to learn the details waits for that.
type EarlyAnnouncer interface {
	// WatchEarly calls fn with every early announcement, of every user,
	// until cancel is called. fn runs on the announcing goroutine before
	// its transaction commits, and the announcement is worth something
	// only if fn tells the clients at once; so fn must be quick and must
	// not block. It must not read the store: a read of the user's mail
	// waits for that commit, which waits for fn.
	WatchEarly(fn func(EarlyAdd)) (cancel func())
}

// EarlyAdd is an early announcement (EarlyAnnouncer): the MessagesAdded
// event the transaction will publish once committed, and what a watcher
// that knew the mailbox as of Since needs to know it as of the event.
type EarlyAdd struct {
	Event
	// Since is the mailbox's HIGHESTMODSEQ before the transaction: the
	// event's UIDs are the only changes after it.
	Since uint64
	// Keywords are the mailbox's keywords, as Changes.Keywords.
	Keywords []string
	// ClaimRecent claims \Recent for the caller as RecentClaimer does,
	// up to upTo and at most to the transaction's UIDNEXT.
	ClaimRecent func(upTo uint32) (from, to uint32)
}
