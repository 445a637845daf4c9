package imapserver

import (
	"slices"
	"sort"
	"strconv"

	"github.com/dormouse/dormouse/imapwire"
)

// resolveSet turns a sequence set (or, with uid, a UID set) into the
// ascending, unique sequence numbers of the view's messages it names.
// UIDs that name no message are ignored (RFC 9051 6.4.9); a sequence
// number beyond the mailbox is a client error. "$" is the saved search
// result (RFC 5182).
func (c *conn) resolveSet(set imapwire.SeqSet, uid bool) ([]uint32, error) {
	return c.resolveSetIn(set, uid, false)
}

// searchSet is resolveSet for a SEARCH key: a sequence number beyond the
// mailbox names no message and matches nothing, as Dovecot and Cyrus
// answer (a client's idea of the size may be a step behind), instead of
// making the whole command BAD.
func (c *conn) searchSet(set imapwire.SeqSet, uid bool) []uint32 {
	seqs, _ := c.resolveSetIn(set, uid, true)
	return seqs
}

// resolveSetIn is resolveSet; with lenient, sequence numbers beyond the
// mailbox are left out instead of being an error.
func (c *conn) resolveSetIn(set imapwire.SeqSet, uid, lenient bool) ([]uint32, error) {
	v := c.sel.view
	n := uint32(v.Messages.Len())
	var seqs []uint32
	if set.Saved {
		for _, u := range v.Saved {
			if seq := v.SeqOf(u); seq > 0 {
				seqs = append(seqs, seq)
			}
		}
		return seqs, nil
	}
	for _, r := range set.Ranges {
		if uid {
			maxUID := uint32(0)
			if n > 0 {
				maxUID = v.Messages.UID(int(n - 1))
			}
			lo, hi := r.Resolve(maxUID)
			i := sort.Search(int(n), func(i int) bool { return v.Messages.UID(i) >= lo })
			for ; i < int(n) && v.Messages.UID(i) <= hi; i++ {
				seqs = append(seqs, uint32(i+1))
			}
			continue
		}
		lo, hi := r.Start, r.Stop
		if (lo == 0 || hi == 0) && n == 0 {
			continue // "*" in an empty mailbox names nothing
		}
		if lo == 0 {
			lo = n
		}
		if hi == 0 {
			hi = n
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if lo == 0 || hi > n {
			if !lenient {
				return nil, errBAD("", "Invalid sequence number (mailbox has "+strconv.Itoa(int(n))+" messages)")
			}
			lo, hi = max(lo, 1), min(hi, n)
		}
		for s := lo; s <= hi; s++ {
			seqs = append(seqs, s)
		}
	}
	if len(set.Ranges) > 1 {
		slices.Sort(seqs)
		seqs = slices.Compact(seqs)
	}
	return seqs, nil
}

// changedIn returns the sequence numbers of the messages whose UID is in
// set and whose MODSEQ is above since (UID FETCH ... (CHANGEDSINCE
// since)), without listing every message the set names first: a
// resync's UID FETCH 1:* of a mailbox of a million messages where a few
// changed looks at the view's MODSEQ summary and at the runs of messages
// it points to (imapview.View.ChangedSince).
func (c *conn) changedIn(set imapwire.SeqSet, since uint64) []uint32 {
	v := c.sel.view
	n := v.Messages.Len()
	if n == 0 {
		return nil
	}
	maxUID := v.Messages.UID(int(n - 1))
	var seqs []uint32
	for s := range v.ChangedSince(since) {
		if set.Contains(v.Messages.UID(int(s-1)), maxUID) {
			seqs = append(seqs, s)
		}
	}
	return seqs
}
