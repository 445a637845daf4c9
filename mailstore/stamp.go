package mailstore

// Stamper is an optional capability of a Store: stamps of a user's mail,
// read without opening the user's index (no handle taken, nothing
// mapped), that change whenever what they cover changes. A reader that
// keeps an answer together with the stamp it read before reading the
// answer may give that answer again, without the index, for as long as
// the stamp is unchanged: hibernated connections answer their clients'
// keepalive commands so (NOOP with nothing new, GETQUOTAROOT, the
// Thunderbird's UID FETCH of the last message's flags).
type Stamper interface {
	// IndexStamp covers everything read from the user's index: it
	// changes with every commit and when the index is replaced. A change
	// announced early (EarlyAdd) is read committed, as by any reader of
	// the index. ok is false when it cannot be read (no index yet, an
	// unknown format).
	IndexStamp(user string) (s Stamp, ok bool)
	// FolderStamp covers what QuotaUser.Quota reads besides the index:
	// which mailbox folders the user has, and whether other programs
	// changed their messages. ok is false when it cannot be read.
	FolderStamp(user string) (s Stamp, ok bool)
}

// Stamp is a Stamper's stamp: two equal stamps of the same kind mean
// that nothing they cover changed in between.
type Stamp [2]uint64
