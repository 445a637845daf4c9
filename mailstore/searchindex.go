package mailstore

// SearchIndexHome is implemented by a Mailbox that offers a directory of
// its own for a full-text search index of its messages (imapserver's
// trigram index, package searchindex). The directory belongs to the
// mailbox, not to its name, so it follows renames; the store does not
// look inside it and does not need it: deleting it loses nothing but
// the time to rebuild it.
type SearchIndexHome interface {
	// SearchIndexDir returns the directory, which may not exist yet.
	SearchIndexDir() string
}
