package imapserver

import (
	"errors"
	"fmt"
	"sort"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// sendUpdates brings the selected view up to date and tells the client
// what changed: EXPUNGE, EXISTS, RECENT (IMAP4rev1 only), FLAGS when the
// keyword set grew, and FETCH FLAGS (RFC 9051 7, 7.5.1).
//
// Refresh applies every change at once, expunges included, so when an
// EXPUNGE response is not allowed now (after FETCH, STORE or SEARCH by
// sequence number) nothing is applied: the change stays pending for the
// next command that allows it, and the sequence numbers the client holds
// stay valid.
func (c *conn) sendUpdates(allowExpunge bool) error {
	sel := c.sel
	if sel == nil || !allowExpunge {
		return nil
	}
	select {
	case <-sel.notify:
	default:
		return nil
	}
	return c.refresh()
}

// catchUp brings the view up to date before a UID command runs. Its UID
// set may name a message another session added a moment ago (a client
// that got the UID from APPENDUID or COPYUID on another connection, as
// multi-connection clients do); resolved against a stale view, the UID
// would be skipped without a word and a STORE or EXPUNGE reported done
// without touching it. A UID command may be told of expunges (RFC 9051
// 7.5.1), so every pending change can be applied and written first.
func (c *conn) catchUp(cmd *imapwire.Command) error {
	if c.sel != nil && !allowExpunge(cmd) {
		c.tellUntold()
	}
	if !cmd.UID || c.sel == nil {
		return nil
	}
	select {
	case <-c.sel.notify: // consumed: the refresh below covers it
	default:
	}
	return c.refresh()
}

// tellUntold writes the flags of the messages a session rebuilt after
// hibernation holds newer than the client was told (selected.untold), as
// unsolicited FETCH responses, which any command may carry (RFC 9051
// 7.4): a FETCH, STORE or SEARCH by sequence number, which applies no
// change, then reads what the client knows. The refresh that follows
// does not report them again (told).
func (c *conn) tellUntold() {
	sel := c.sel
	for _, seq := range sel.untold {
		m := &sel.view.Messages[seq-1]
		if sel.told != nil && sel.told[m.UID] == m.ModSeq {
			continue
		}
		c.writeMsgFetch(seq, m, true)
		if sel.told == nil {
			sel.told = make(map[uint32]uint64)
		}
		sel.told[m.UID] = m.ModSeq
	}
	sel.untold = nil
}

// refresh applies pending changes to the view and writes them.
func (c *conn) refresh() error {
	sel := c.sel
	sel.untold = nil // the refresh reports them
	up, err := sel.mbox.Refresh(c.ctx, sel.view)
	if err != nil {
		if errors.Is(err, mailstore.ErrNoMailbox) {
			return &byeError{text: "Selected mailbox was deleted, have to disconnect", err: err}
		}
		if errors.Is(err, mailstore.ErrUIDValidity) {
			return &byeError{text: "Mailbox UIDVALIDITY changed, have to disconnect", err: err}
		}
		return fmt.Errorf("refresh %s: %w", sel.name, err)
	}
	c.writeUpdate(up)
	return nil
}

// writeUpdate writes the responses for one Refresh result.
func (c *conn) writeUpdate(up mailstore.Update) {
	v := c.sel.view
	var changed []seqMsg
	if len(up.Changed) > 0 {
		changed = make([]seqMsg, 0, len(up.Changed))
	}
	for _, seq := range up.Changed {
		if seq == 0 || int(seq) > len(v.Messages) {
			continue
		}
		changed = append(changed, seqMsg{seq, &v.Messages[seq-1]})
	}
	c.writeChanges(up, v.Keywords, len(v.Messages), len(v.Recent), changed)
}

// seqMsg is a message and its sequence number, for a FETCH FLAGS update.
type seqMsg struct {
	seq uint32
	msg *mailstore.Message
}

// writeChanges writes the untagged responses of one change to the
// selected mailbox: exists and recent are the counts after it, keywords
// the mailbox's keyword set, changed the kept messages whose flags
// changed (new numbering, ascending). An active session's Refresh and a
// hibernated session updated in place (hibernate_update.go) both write
// through here, so a client cannot tell them apart. \Recent in FETCH
// comes from c.sel.view.Recent; told and saved are updated.
func (c *conn) writeChanges(up mailstore.Update, keywords []string, exists, recent int, changed []seqMsg) {
	sel := c.sel
	if c.enabled.qresync {
		// RFC 7162 3.2.10: VANISHED replaces EXPUNGE once QRESYNC is on.
		c.writeVanished(imapwire.AppendUIDSet(nil, up.ExpungedUIDs), false)
	} else {
		// Descending sequence numbers need no renumbering (RFC 9051 7.5.1).
		for _, seq := range up.ExpungedSeqs {
			c.w.Raw("* ").Number32(seq).Raw(" EXPUNGE").CRLF()
		}
	}
	if up.KeywordsChanged {
		c.writeFlags(keywords)
	}
	if up.Added > 0 {
		c.w.Raw("* ").Number(uint64(exists)).Raw(" EXISTS").CRLF()
		if !c.enabled.rev2 {
			c.w.Raw("* ").Number(uint64(recent)).Raw(" RECENT").CRLF()
		}
	}
	for _, cm := range changed {
		if sel.told != nil && sel.told[cm.msg.UID] == cm.msg.ModSeq {
			continue
		}
		c.writeMsgFetch(cm.seq, cm.msg, true)
	}
	sel.told = nil
	// The saved search result keeps only UIDs that still exist (RFC 5182 2.1).
	if len(up.ExpungedUIDs) > 0 && sel.saved != nil {
		sel.saved = removeUIDs(sel.saved, up.ExpungedUIDs)
	}
}

// writeFlagsFetch writes "* seq FETCH (UID u FLAGS (...) [MODSEQ (m)])"
// for a message of the view, as unsolicited updates and STORE replies do.
func (c *conn) writeFlagsFetch(seq uint32, withUID bool) {
	c.writeMsgFetch(seq, &c.sel.view.Messages[seq-1], withUID)
}

// writeMsgFetch is writeFlagsFetch for message m at seq.
func (c *conn) writeMsgFetch(seq uint32, m *mailstore.Message, withUID bool) {
	c.w.Raw("* ").Number32(seq).Raw(" FETCH (")
	if withUID {
		c.w.Raw("UID ").Number32(m.UID).SP()
	}
	c.w.Raw("FLAGS ")
	c.writeMsgFlags(m)
	if c.enabled.condstore {
		// RFC 7162 3.1.4.1: MODSEQ in every FETCH once CONDSTORE is on.
		c.w.Raw(" MODSEQ (").Number(m.ModSeq).Raw(")")
	}
	c.w.Raw(")").CRLF()
}

// writeMsgFlags writes a message's flag list, with \Recent for IMAP4rev1
// clients when the message is recent in this view.
func (c *conn) writeMsgFlags(m *mailstore.Message) {
	c.w.Open()
	for i, f := range m.Flags {
		if i > 0 {
			c.w.SP()
		}
		c.w.Raw(f)
	}
	if !c.enabled.rev2 && isRecent(c.sel.view, m.UID) {
		if len(m.Flags) > 0 {
			c.w.SP()
		}
		c.w.Raw(`\Recent`)
	}
	c.w.Close()
}

func isRecent(v *mailstore.View, uid uint32) bool {
	if len(v.Recent) == 0 || uid < v.Recent[0] {
		return false
	}
	i := sort.Search(len(v.Recent), func(i int) bool { return v.Recent[i] >= uid })
	return i < len(v.Recent) && v.Recent[i] == uid
}

// removeUIDs returns the UIDs of a not in b; both ascending.
func removeUIDs(a, b []uint32) []uint32 {
	out := a[:0]
	j := 0
	for _, u := range a {
		for j < len(b) && b[j] < u {
			j++
		}
		if j < len(b) && b[j] == u {
			continue
		}
		out = append(out, u)
	}
	return out
}
