// Package notice carries Dormouse's change notices beyond one process: a
// backend (`dormouse serve`) publishes a Notice on NATS for every change of
// a user's mailboxes that its store makes or sees, and a hibernating proxy
// subscribes to the users whose sleepers it holds, to wake those that
// must hear of a change (docs/design.md, "Change notices").
//
// A notice is a hint, as a store's event is: it says that a mailbox
// changed and how far (HIGHESTMODSEQ and UIDNEXT after the change), never
// what the client must be told; the backend that resumes a session
// computes that from its store. Notices go over core NATS, at most once:
// a subscriber that loses its connection must treat every sleeper as
// possibly changed when it is back.
//
// The package holds the Notice and its wire form (codec.go), the NATS
// subjects (subject.go), the publisher a backend runs (publish.go), the
// user → backend map in JetStream KV (users.go) and the local datagram
// by which writers outside the server tell it of a change where inotify
// is off (hint.go).
package notice

import (
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// Kind says what changed. Its values are those of mailstore.EventKind
// and are part of the wire form: never renumber them.
type Kind uint8

// Kinds of notices.
const (
	MessagesAdded        Kind = Kind(mailstore.MessagesAdded)
	FlagsChanged         Kind = Kind(mailstore.FlagsChanged)
	MessagesExpunged     Kind = Kind(mailstore.MessagesExpunged)
	MailboxCreated       Kind = Kind(mailstore.MailboxCreated)
	MailboxDeleted       Kind = Kind(mailstore.MailboxDeleted)
	MailboxRenamed       Kind = Kind(mailstore.MailboxRenamed)
	SubscriptionsChanged Kind = Kind(mailstore.SubscriptionsChanged)
	MetadataChanged      Kind = Kind(mailstore.MetadataChanged)
)

// String names a kind for logs.
func (k Kind) String() string {
	switch k {
	case MessagesAdded:
		return "messages-added"
	case FlagsChanged:
		return "flags-changed"
	case MessagesExpunged:
		return "messages-expunged"
	case MailboxCreated:
		return "mailbox-created"
	case MailboxDeleted:
		return "mailbox-deleted"
	case MailboxRenamed:
		return "mailbox-renamed"
	case SubscriptionsChanged:
		return "subscriptions-changed"
	case MetadataChanged:
		return "metadata-changed"
	}
	return "unknown"
}

// Notice says that a user's mailbox changed. It carries enough for a proxy
// to decide whether a sleeper must wake; the backend recomputes the exact
// updates from the store on resume.
type Notice struct {
	User string
	// Mailbox is the store's name of the mailbox that changed ("INBOX",
	// "Archive/2026"): the one created or deleted, the new name of a
	// renamed one. "" for a user-wide change: subscriptions, server
	// metadata.
	Mailbox string
	// OldName is a renamed mailbox's name before the rename; "" for the
	// other kinds.
	OldName string
	Kind    Kind
	// UIDValidity, HighestModSeq and UIDNext are the mailbox's after the
	// change, for the message kinds (added, flags, expunged); 0 when
	// unknown.
	UIDValidity   uint32
	HighestModSeq uint64
	UIDNext       uint32
	// Node is the backend that published it ([cluster] node).
	Node string
	// At is when the store published the change: where a subscriber's
	// notice lag starts. Zero when unknown.
	At time.Time
}

// FromEvent makes the notice of a store's change event, published by
// node.
func FromEvent(ev mailstore.Event, node string) Notice {
	return Notice{
		User:          ev.User,
		Mailbox:       ev.Mailbox,
		OldName:       ev.OldName,
		Kind:          Kind(ev.Kind),
		UIDValidity:   ev.UIDValidity,
		HighestModSeq: ev.HighestModSeq,
		UIDNext:       ev.UIDNext,
		Node:          node,
		At:            ev.At,
	}
}

// Concerns reports whether the notice is about mailbox (by its store
// name, INBOX in any case): its Mailbox, or the OldName of a rename.
func (n Notice) Concerns(mailbox string) bool {
	c := mailstore.CanonicalName(mailbox)
	return mailstore.CanonicalName(n.Mailbox) == c || (n.OldName != "" && mailstore.CanonicalName(n.OldName) == c)
}

// Changes reports whether the notice may change what a session that
// knows mailbox as of uidValidity, highestModSeq and uidNext (a state
// blob's) must be told: it concerns that mailbox and either removes or
// renames it, gives it another UIDVALIDITY, or moves its HIGHESTMODSEQ or
// UIDNEXT past the session's. A notice whose counters are unknown (0)
// counts as a change.
func (n Notice) Changes(mailbox string, uidValidity uint32, highestModSeq uint64, uidNext uint32) bool {
	if !n.Concerns(mailbox) {
		return false
	}
	switch n.Kind {
	case MessagesAdded, FlagsChanged, MessagesExpunged:
	case MailboxCreated, SubscriptionsChanged, MetadataChanged:
		// None changes the messages a session on the mailbox knows.
		return false
	default:
		// Deleted, renamed, or a kind of a newer backend.
		return true
	}
	if n.HighestModSeq == 0 && n.UIDNext == 0 {
		return true
	}
	if n.UIDValidity != 0 && n.UIDValidity != uidValidity {
		return true
	}
	return n.HighestModSeq > highestModSeq || n.UIDNext > uidNext
}
