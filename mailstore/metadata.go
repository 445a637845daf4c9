package mailstore

import (
	"context"
	"errors"
	"fmt"
)

// METADATA (RFC 5464): entries on the server (mailbox "") and on each
// mailbox, named by lower-case slash-separated paths under /private/ or
// /shared/, each with a value of up to MetadataLimits.MaxEntrySize bytes.

// MetadataSpecialUse is the entry that mirrors a mailbox's RFC 6154
// special-use attribute (RFC 6154 4): it is the attribute LIST shows,
// not an entry of its own, and is not counted against the limits.
const MetadataSpecialUse = "/private/specialuse"

// ErrMetadataTooMany says a SETMETADATA would take the user past
// MetadataLimits.MaxEntries ([METADATA TOOMANY], RFC 5464 4.3).
var ErrMetadataTooMany = errors.New("too many metadata entries")

// ErrBadSpecialUse says a value of MetadataSpecialUse is not a
// special-use attribute the store keeps (IMAP: NO [USEATTR]).
var ErrBadSpecialUse = errors.New("unsupported special-use attribute")

// MetadataTooBigError says an entry's value, or the user's entries
// together, would be larger than the store allows ([METADATA MAXSIZE n],
// RFC 5464 4.3).
type MetadataTooBigError struct {
	Max int64 // the largest value that is accepted
}

func (e *MetadataTooBigError) Error() string {
	return fmt.Sprintf("metadata value larger than %d bytes", e.Max)
}

// MetadataLimits bound a user's metadata; zero fields have no limit.
type MetadataLimits struct {
	MaxEntrySize int64 // bytes of one value
	MaxEntries   int   // entries of the user, server and mailboxes together
	MaxTotalSize int64 // bytes of all the user's values
}

// MetadataEntry is one entry and its value.
type MetadataEntry struct {
	Name  string // lower case, e.g. "/private/comment"
	Value []byte // nil in SetMetadata removes the entry
}

// MetadataUser is implemented by a User that keeps METADATA entries in
// its index. Entries of a mailbox move with it on RENAME and go with it
// on DELETE.
type MetadataUser interface {
	// GetMetadata returns the entries named, and with depth 1 their
	// children, with DepthInfinity all their descendants, of mailbox (""
	// for the server), sorted by name. Entries without a value are left
	// out. names are lower case.
	GetMetadata(ctx context.Context, mailbox string, names []string, depth int) ([]MetadataEntry, error)
	// SetMetadata sets and removes entries of mailbox ("" for the
	// server) in one transaction, all or none, within limits.
	SetMetadata(ctx context.Context, mailbox string, entries []MetadataEntry, limits MetadataLimits) error
}

// DepthInfinity asks GetMetadata for every descendant.
const DepthInfinity = -1
