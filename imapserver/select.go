package imapserver

import (
	"errors"

	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// systemFlags are the RFC 9051 2.3.2 flags every mailbox permits.
var systemFlags = [...]string{`\Answered`, `\Flagged`, `\Deleted`, `\Seen`, `\Draft`}

// handleSelect serves SELECT and EXAMINE (RFC 9051 6.3.2, 6.3.3), with the
// CONDSTORE parameter of RFC 7162 3.1.8.
func handleSelect(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.SelectArgs)
	if a == nil {
		return errBAD("", "Missing mailbox")
	}
	readOnly := a.ReadOnly || cmd.Name == "EXAMINE"
	if a.QResync != nil && !c.enabled.qresync {
		// RFC 7162 3.2.5: QRESYNC without ENABLE QRESYNC is an error.
		return errBAD("CLIENTBUG", "QRESYNC is not enabled")
	}
	prev := c.sel
	if prev != nil {
		// RFC 9051 6.3.2: the old mailbox is closed (without expunge)
		// even if the new SELECT fails; [CLOSED] tells the client where
		// the old mailbox's responses end (RFC 7162 3.2.11).
		c.sel = nil
		c.unselect()
		c.w.Raw("* OK [CLOSED] Previous mailbox closed").CRLF()
	}
	if a.CondStore {
		c.enabled.condstore = true
	}
	sel, err := c.openSelected(a.Mailbox, readOnly)
	if prev != nil {
		// Let go of the old mailbox only now: selecting the same one
		// again keeps the store's hold on its disk watch, so the folder
		// is not scanned again as if nobody had watched it.
		prev.close()
	}
	if err != nil {
		return storeError(err)
	}
	c.sel, c.state = sel, stateSelected
	c.log = c.logBase.With("mailbox", sel.name)
	v := sel.view
	c.srv.searchBuild.enqueue(c.username, sel.mbox, &v.Messages)
	c.log.Debug("selected", "messages", v.Messages.Len(), "readonly", readOnly)

	c.writeFlags(v.Keywords)
	c.w.Raw("* ").Number(uint64(v.Len())).Raw(" EXISTS").CRLF()
	if !c.enabled.rev2 {
		c.w.Raw("* ").Number(uint64(c.recentOnSelect(v))).Raw(" RECENT").CRLF()
		if seq := firstUnseen(v); seq > 0 {
			c.w.Raw("* OK [UNSEEN ").Number(uint64(seq)).Raw("] First unseen").CRLF()
		}
	}
	c.w.Raw("* OK [UIDVALIDITY ").Number32(v.UIDValidity).Raw("] UIDs valid").CRLF()
	c.w.Raw("* OK [UIDNEXT ").Number32(v.UIDNext).Raw("] Predicted next UID").CRLF()
	// RFC 7162 3.1.2.1: a CONDSTORE server sends HIGHESTMODSEQ on every
	// successful SELECT/EXAMINE.
	c.enc().highestModSeq(v.HighestModSeq)
	if id := sel.mailboxID(); id != "" {
		// RFC 8474 4.2: the MAILBOXID on SELECT and EXAMINE.
		c.w.Raw("* OK [MAILBOXID (").Raw(id).Raw(")] Ok").CRLF()
	}
	if c.enabled.rev2 {
		// RFC 9051 6.3.2: a LIST response with the mailbox name.
		c.w.Raw("* LIST () \"/\" ")
		c.w.Mailbox(sel.name)
		c.w.CRLF()
	}
	if a.QResync != nil {
		if err := c.qresyncSelect(a.QResync); err != nil {
			// A failed SELECT leaves no mailbox selected (RFC 9051 6.3.2).
			c.unselect()
			return storeError(err)
		}
	}
	if readOnly {
		c.okCode = "READ-ONLY"
	} else {
		c.okCode = "READ-WRITE"
	}
	c.okText = cmd.Name + " completed"
	return nil
}

// openSelected opens a mailbox and the session's view of it. The watch is
// set up before the view is taken, so no change falls between them.
func (c *conn) openSelected(name string, readOnly bool) (*selected, error) {
	sel, err := c.openWatched(name)
	if err != nil {
		return nil, err
	}
	// RFC 9051 drops \Recent, but IMAP4rev1 clients still see it; a
	// read-only EXAMINE never claims recent messages (RFC 3501 6.3.2).
	if sel.view, err = imapview.Open(c.ctx, sel.mbox, readOnly); err != nil {
		sel.close()
		return nil, err
	}
	sel.view.Eval = contextEval{c}
	// The view starts current: drop the token the watch may already hold.
	select {
	case <-sel.notify:
		sel.signal() // keep it: a change may have come after the view
	default:
	}
	return sel, nil
}

// openWatched opens a mailbox and watches it; the caller gives it a view.
func (c *conn) openWatched(name string) (*selected, error) {
	mbox, err := c.user.Mailbox(c.ctx, name)
	if err != nil {
		return nil, err
	}
	sel := &selected{
		name:   mbox.Name(),
		mbox:   mbox,
		notify: make(chan struct{}, 1),
	}
	sel.cancelWatch = c.srv.cfg.Store.Watch(c.username, sel.name, func(ev mailstore.Event) {
		switch ev.Kind {
		case mailstore.MessagesAdded, mailstore.FlagsChanged, mailstore.MessagesExpunged,
			mailstore.MailboxDeleted, mailstore.MailboxRenamed:
			sel.signal()
			c.interruptIdlePeek()
		}
	})
	return sel, nil
}

// unselect leaves the selected state without expunging.
func (c *conn) unselect() {
	if c.sel != nil {
		c.sel.close()
		c.sel = nil
		c.log = c.logBase
	}
	if c.state == stateSelected {
		c.state = stateAuth
	}
}

// writeFlags writes the FLAGS response and the PERMANENTFLAGS code.
func (c *conn) writeFlags(keywords []string) {
	c.enc().flags(keywords, c.sel == nil || !c.sel.view.ReadOnly)
}

// firstUnseen returns the sequence number of the first message without
// \Seen, or 0.
func firstUnseen(v *imapview.View) uint32 {
	for i := range v.Messages.Len() {
		if !imapview.HasFlag(v.Messages.Flags(i), `\Seen`) {
			return uint32(i + 1)
		}
	}
	return 0
}

// handleClose serves RFC 9051 6.4.1 CLOSE: a silent expunge when
// read-write, then the authenticated state.
func handleClose(c *conn, cmd *imapwire.Command) error {
	var err error
	if !c.sel.view.ReadOnly {
		_, err = c.sel.mbox.Expunge(c.ctx, nil)
	}
	c.unselect()
	if err != nil && !errors.Is(err, mailstore.ErrNoMailbox) {
		return storeError(err)
	}
	return nil
}

// handleUnselect serves RFC 3691 UNSELECT.
func handleUnselect(c *conn, cmd *imapwire.Command) error {
	c.unselect()
	return nil
}

// recentOnSelect is the count of SELECT's or EXAMINE's RECENT response.
// SELECT claimed the recent messages into the view. EXAMINE claims none
// (RFC 3501 6.3.2: it must not make messages lose \Recent) but still
// reports how many are recent, as Dovecot does: the mailbox's count,
// which may include a message that arrived since the view was taken, so
// at most the view's size.
func (c *conn) recentOnSelect(v *imapview.View) int {
	if !v.ReadOnly {
		return len(v.Recent)
	}
	st, err := c.user.Status(c.ctx, c.sel.name)
	if err != nil {
		return 0
	}
	return min(int(st.Recent), v.Len())
}
