package imapview

import "github.com/dormouse/dormouse/mailstore"

// HeldBack returns the HIGHESTMODSEQ to tell the client at the end of a
// command that could not tell it of expunges (a FETCH, STORE or SEARCH
// by sequence number, RFC 9051 7.5.1), given ch, the store's changes
// since v.HighestModSeq: v.HighestModSeq, the last one the client was
// told, when the session told a higher MODSEQ in a FETCH (its own STORE,
// a FETCH that set \Seen, TellFlags) while ch expunges messages the
// view still holds; else 0.
//
// RFC 7162 3.2 (RFC 5162 erratum 1810): a server that sends MODSEQ FETCH
// data while EXPUNGE (or VANISHED) responses with lower mod-sequences
// are delayed MUST send a HIGHESTMODSEQ below the expunges'. A client
// that took the FETCH's MODSEQ for the mailbox's and lost the
// connection would resynchronise from above the expunges (QRESYNC,
// CHANGEDSINCE) and keep the expunged messages for good. Dovecot sends
// its last HIGHESTMODSEQ taken without delayed expunges, as here
// (imap_sync_send_highestmodseq, src/imap/imap-sync.c).
//
// The client then holds a HIGHESTMODSEQ below MODSEQs it saw: the next
// Apply tells it the new one even when a FETCH carries it
// (Update.HighestModSeq).
func (v *View) HeldBack(ch mailstore.Changes) uint64 {
	if !v.toldAbove() {
		return 0
	}
	for _, u := range ch.Expunged {
		if v.SeqOf(u) > 0 {
			v.heldBack = true
			return v.HighestModSeq
		}
	}
	return 0
}

// toldAbove reports whether the session told a MODSEQ above
// v.HighestModSeq in a FETCH since the last Apply.
func (v *View) toldAbove() bool {
	for _, m := range v.told {
		if m > v.HighestModSeq {
			return true
		}
	}
	return false
}
