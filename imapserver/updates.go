package imapserver

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// sendUpdates brings the selected view up to date and tells the client
// what changed: EXPUNGE, EXISTS, RECENT (IMAP4rev1 only), FLAGS when the
// keyword set grew, and FETCH FLAGS (RFC 9051 7, 7.5.1).
//
// A refresh applies every change at once, expunges included, so when an
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
		c.tellFlags()
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

// tellFlags writes, before a command that cannot apply changes (a
// FETCH, STORE or SEARCH by sequence number, RFC 9051 7.5.1), the flag
// changes pending for the view as unsolicited FETCH responses, which any
// command may carry (RFC 9051 7.4), so that the command's answer agrees
// with what the client knows; the change stays pending for the next
// refresh, which does not repeat them (imapview.View.TellFlags). A
// session woken from hibernation has its change pending too, so it says
// the same as one that stayed awake.
func (c *conn) tellFlags() {
	sel := c.sel
	if len(sel.notify) == 0 {
		return
	}
	fs, err := imapview.TellFlags(c.ctx, sel.mbox, sel.view)
	if err != nil {
		// The next refresh reports the failure, or the change.
		c.log.Warn("flag changes", "err", err)
		return
	}
	c.enc().fetches(sel.view, fs)
}

// tellHeldBack tells a CONDSTORE client, at the end of a command that
// could not tell it of expunges (a FETCH, STORE or SEARCH by sequence
// number), the HIGHESTMODSEQ held back below them when the command or
// tellFlags told a higher MODSEQ (RFC 7162 3.2, imapview.View.HeldBack):
// in the tagged OK when it carries no code of its own (ok: the command
// succeeded), else in an untagged OK before the tagged response, as
// Dovecot does.
func (c *conn) tellHeldBack(ok bool) {
	sel := c.sel
	if sel == nil || !c.enabled.condstore {
		return
	}
	n, err := imapview.HeldBack(c.ctx, sel.mbox, sel.view)
	if err != nil {
		// The client keeps what the FETCHes said; the next refresh
		// reports the failure, or the changes.
		c.log.Warn("held back HIGHESTMODSEQ", "err", err)
		return
	}
	if n == 0 {
		return
	}
	if ok && c.okCode == "" {
		c.okCode = "HIGHESTMODSEQ " + strconv.FormatUint(n, 10)
		return
	}
	c.enc().highestModSeq(n)
}

// refresh applies pending changes to the view and writes them.
func (c *conn) refresh() error {
	sel := c.sel
	up, err := imapview.Refresh(c.ctx, sel.mbox, sel.view)
	if err != nil {
		if errors.Is(err, mailstore.ErrNoMailbox) {
			return &byeError{text: "Selected mailbox was deleted, have to disconnect", err: err}
		}
		if errors.Is(err, mailstore.ErrUIDValidity) {
			return &byeError{text: "Mailbox UIDVALIDITY changed, have to disconnect", err: err}
		}
		return fmt.Errorf("refresh %s: %w", sel.name, err)
	}
	c.enc().update(sel.view, up)
	if up.Added > 0 && c.notify != nil {
		if g := c.notify.spec.selected(); g != nil && len(g.fetch) > 0 {
			return c.fetchNew(up, g.fetch)
		}
	}
	return nil
}

// fetchNew writes, after the EXISTS of messages new to the view, their
// FETCH with the attributes NOTIFY's MessageNew asked for (RFC 5465
// 5.2), as FETCH itself writes them (the attributes set no flag:
// newNotifySpec).
func (c *conn) fetchNew(up imapview.Update, items []imapwire.FetchItem) error {
	first := uint32(up.Exists - up.Added + 1)
	cmd := &imapwire.Command{Name: "FETCH", Args: &imapwire.FetchArgs{
		Set:   imapwire.SeqSet{Ranges: []imapwire.SeqRange{{Start: first, Stop: uint32(up.Exists)}}},
		Items: items,
	}}
	okCode, okText := c.okCode, c.okText
	err := handleFetch(c, cmd)
	c.okCode, c.okText = okCode, okText
	var be *byeError
	if errors.As(err, &be) {
		return err
	}
	if err != nil {
		// Nothing to tell the client: the EXISTS went out, a FETCH
		// of its own gets the message.
		c.log.Warn("notify fetch", "err", err)
	}
	return nil
}

// writeFlagsFetch writes "* seq FETCH (UID u FLAGS (...) [MODSEQ (m)])"
// for a message of the view, as unsolicited updates and STORE replies do.
func (c *conn) writeFlagsFetch(seq uint32, withUID bool) {
	v := c.sel.view
	rec := v.Messages.At(int(seq - 1))
	c.enc().msgFetch(v, seq, &rec, withUID)
}

// writeMsgFlags writes a message's flag list, with \Recent for IMAP4rev1
// clients when the message is recent in this view.
func (c *conn) writeMsgFlags(m *mailstore.Message) {
	c.enc().msgFlags(c.sel.view, m)
}
