package mailstore

import "context"

// URLAuthUser is implemented by a User that keeps the mailbox access keys
// of URLAUTH (RFC 4467 7): one secret per mailbox, made from a
// cryptographic random source on first use and kept durably, so that a
// URL authorized with it verifies after a restart. A key follows its
// mailbox through RENAME and goes with it on DELETE; a mailbox made again
// under the name gets a new one. Keys are never shown to a client.
type URLAuthUser interface {
	// AccessKey returns mailbox's access key. Without one, create makes
	// and keeps it; otherwise AccessKey returns nil.
	AccessKey(ctx context.Context, mailbox string, create bool) ([]byte, error)
	// ResetAccessKeys drops the access key of mailbox, or of every
	// mailbox when mailbox is "", so that every URL authorized with them
	// fails to verify (RFC 4467 6.2).
	ResetAccessKeys(ctx context.Context, mailbox string) error
}
