package imapserver

import (
	"slices"

	"github.com/dormouse/dormouse/mailstore"
)

// OBJECTID (RFC 8474): MAILBOXID on SELECT, EXAMINE, CREATE and STATUS,
// EMAILID and THREADID in FETCH and SEARCH. The identifiers are the
// store's (mailstore.ObjectIDs; mailstore/maildir/objectid.go says how
// they are made and kept); THREADID is worked out from the sort records
// (threadid.go). Nothing of it is session state, so a
// hibernated session needs nothing more in its blob: the identifiers are
// read from the store again after a wake.

// objectIDCap is the capability, advertised beside baseCaps.
const objectIDCap = " OBJECTID"

// emailIDChunk is how many EMAILIDs FETCH asks the store for at a time.
const emailIDChunk = 1024

// emailIDReader gives FETCH the EMAILIDs of the messages it walks, a
// chunk at a time.
type emailIDReader struct {
	c    *conn
	ids  mailstore.ObjectIDs
	seqs []uint32

	from int
	got  []string
}

// newEmailIDReader returns a reader over seqs, or nil when the store
// gives no object identifiers.
func newEmailIDReader(c *conn, seqs []uint32) *emailIDReader {
	ids, ok := c.sel.mbox.(mailstore.ObjectIDs)
	if !ok {
		return nil
	}
	return &emailIDReader{c: c, ids: ids, seqs: seqs}
}

// id returns the EMAILID of the i-th message of seqs.
func (r *emailIDReader) id(i int) (string, error) {
	if i < r.from || i >= r.from+len(r.got) {
		n := min(emailIDChunk, len(r.seqs)-i)
		uids := make([]uint32, n)
		for j := range uids {
			uids[j] = r.c.sel.view.Messages.UID(int(r.seqs[i+j] - 1))
		}
		r.got = nil
		got, err := r.ids.EmailIDs(r.c.ctx, uids)
		if err != nil {
			return "", err
		}
		r.from, r.got = i, got
	}
	return r.got[i-r.from], nil
}

// mailboxID returns the selected mailbox's MAILBOXID, "" when the store
// keeps none.
func (s *selected) mailboxID() string {
	if ids, ok := s.mbox.(mailstore.ObjectIDs); ok {
		return ids.MailboxID()
	}
	return ""
}

// viewEmailIDs returns the EMAILID of every message of the view, for
// SEARCH EMAILID; nil when the store gives none.
func (c *conn) viewEmailIDs() ([]string, error) {
	ids, ok := c.sel.mbox.(mailstore.ObjectIDs)
	if !ok {
		return nil, nil
	}
	uids := slices.AppendSeq(make([]uint32, 0, c.sel.view.Len()), c.sel.view.Messages.UIDs())
	return ids.EmailIDs(c.ctx, uids)
}
