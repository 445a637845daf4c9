package imapserver

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// qresyncSelect sends what changed since the client's last session
// (RFC 7162 3.2.5): VANISHED (EARLIER) for expunged UIDs, then FETCH
// (UID FLAGS MODSEQ) for messages changed since its MODSEQ. Nothing is
// sent when the UIDVALIDITY differs: the client must resync fully.
func (c *conn) qresyncSelect(q *imapwire.QResyncArgs) error {
	sel := c.sel
	v := sel.view
	if q.UIDValidity != v.UIDValidity || q.ModSeq == 0 {
		return nil
	}
	vanished, changed, err := c.changesSince(q.ModSeq, q.KnownUIDs)
	if err != nil {
		return err
	}
	c.enc().vanished(vanished, true)
	for _, seq := range changed {
		c.writeFlagsFetch(seq, true)
	}
	return nil
}

// changesSince returns the UIDs expunged since modseq (within known, when
// given) and the sequence numbers of the view's messages changed since.
func (c *conn) changesSince(modseq uint64, known *imapwire.SeqSet) (vanished []byte, changed []uint32, err error) {
	sel := c.sel
	v := sel.view
	star := v.UIDNext - 1
	ch, err := sel.mbox.ChangesSince(c.ctx, modseq)
	switch {
	case errors.Is(err, mailstore.ErrExpungeLogShort):
		// The log no longer reaches back: every UID below UIDNEXT that is
		// not in the view may have vanished. Clients ignore UIDs they
		// never knew in VANISHED (EARLIER) (RFC 7162 3.2.10), so the gaps
		// go out as ranges, whatever the UID space.
		return gapsOf(v), changedSince(v, modseq), nil
	case err != nil:
		return nil, nil, fmt.Errorf("changes since %d: %w", modseq, err)
	}
	var uids []uint32
	for _, uid := range ch.Expunged {
		if known != nil && !known.Contains(uid, star) {
			continue
		}
		if v.SeqOf(uid) == 0 {
			uids = append(uids, uid)
		}
	}
	slices.Sort(uids)
	return imapwire.AppendUIDSet(nil, uids), changedSince(v, modseq), nil
}

// gapsOf formats the UIDs below UIDNEXT missing from the view as a set.
func gapsOf(v *imapview.View) []byte {
	var b []byte
	next := uint32(1)
	add := func(lo, hi uint32) {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(lo), 10)
		if hi > lo {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(hi), 10)
		}
	}
	for uid := range v.Messages.UIDs() {
		if uid > next {
			add(next, uid-1)
		}
		next = uid + 1
	}
	if v.UIDNext > next {
		add(next, v.UIDNext-1)
	}
	return b
}

// changedSince returns the sequence numbers of messages whose MODSEQ is
// above modseq.
func changedSince(v *imapview.View, modseq uint64) []uint32 {
	return slices.Collect(v.ChangedSince(modseq))
}
