package maildir

import (
	"context"
	"fmt"

	"github.com/dormouse/dormouse/mailstore"
)

// Object identifiers (RFC 8474).
//
// A MAILBOXID is made of the mailbox's UIDVALIDITY and its index id, both
// kept by RENAME and both new for a mailbox created again under an old
// name (RFC 8474 4: the same MAILBOXID after RENAME, never the same one
// for another mailbox). No extra state is kept for it.
//
// An EMAILID is a number given to a message when it enters the index
// (an APPEND, a delivery, a file found on disk): its mailbox's
// UIDVALIDITY and its UID, unique for the user since UIDVALIDITYs are
// never given twice (index.go), even after the index is rebuilt. It is
// kept in the message's record, and COPY and MOVE give the new message
// the source's number: RFC 8474 5.1 asks that a message keep its
// EMAILID when it is copied or moved, so that a client can tell it
// already has its content. A record written before EMAILIDs were kept
// has none; its EMAILID is made the same way from where it is, and is
// written into the copy when it is copied or moved.
//
// THREADID is not kept here: imapserver works it out from the sort
// record (imapserver/threadid.go).

// emailIDOf returns the EMAILID number of a record of this mailbox.
func (m *mboxTx) emailIDOf(r *msgRec) uint64 {
	if r.emailID != 0 {
		return r.emailID
	}
	return uint64(m.meta.uidValidity)<<32 | uint64(r.uid)
}

// formatEmailID spells an EMAILID number as an RFC 8474 objectid.
func formatEmailID(n uint64) string { return fmt.Sprintf("M%016x", n) }

// formatMailboxID spells a mailbox's MAILBOXID.
func formatMailboxID(uidValidity uint32, id uint64) string {
	return fmt.Sprintf("F%08x%x", uidValidity, id)
}

var _ mailstore.ObjectIDs = (*mailboxHandle)(nil)

// MailboxID returns the mailbox's RFC 8474 MAILBOXID.
func (h *mailboxHandle) MailboxID() string { return formatMailboxID(h.uidValidity, h.id) }

// EmailIDs returns the RFC 8474 EMAILID of each message of uids, in order.
// A message expunged meanwhile is looked up in the expunge log, where its
// record stays for a session not yet told; one trimmed from the log too
// gets the EMAILID its UID would have had here (an EMAILID may not be
// NIL), which is its own unless it came by COPY or MOVE.
func (h *mailboxHandle) EmailIDs(ctx context.Context, uids []uint32) ([]string, error) {
	ids := make([]string, len(uids))
	err := h.view(func(m *mboxTx) error {
		gone := map[uint32]int{}
		for i, uid := range uids {
			v := m.msgs.Get(u32(uid))
			if v == nil {
				gone[uid] = i
				continue
			}
			r, err := decodeRec(uid, v, false)
			if err != nil {
				return fmt.Errorf("message %d: %w", uid, err)
			}
			ids[i] = formatEmailID(m.emailIDOf(&r))
		}
		if len(gone) == 0 {
			return nil
		}
		for uid, i := range gone {
			ids[i] = formatEmailID(m.emailIDOf(&msgRec{uid: uid}))
		}
		c := m.xplog.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			uid := beUint32(k[8:])
			i, ok := gone[uid]
			if !ok || len(v) == 0 {
				continue
			}
			r, err := decodeRec(uid, v, false)
			if err != nil {
				return fmt.Errorf("expunged message %d: %w", uid, err)
			}
			ids[i] = formatEmailID(m.emailIDOf(&r))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("emailids of %s: %w", h.name, err)
	}
	return ids, nil
}
