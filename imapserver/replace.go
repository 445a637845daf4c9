package imapserver

import (
	"errors"
	"fmt"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// replaceCap is the REPLACE capability (RFC 8508), advertised beside
// baseCaps.
const replaceCap = " REPLACE"

// handleReplace serves REPLACE and UID REPLACE (RFC 8508): the message
// is appended to the named mailbox and the replaced one expunged from
// the selected mailbox, atomically (mailstore.Replacer). As for MOVE
// (RFC 8508 3.3 follows RFC 6851), APPENDUID goes in an untagged OK
// before the EXPUNGE (or VANISHED) of the old message. The message's
// size is refused before it is sent, as APPEND's is (APPENDLIMIT, NO
// [TOOBIG]); a quota the new message would pass, once the old one's
// size is taken off, answers NO [OVERQUOTA]; a mailbox that does not
// exist NO [TRYCREATE]. The message may be in CATENATE form (RFC 8508 3
// takes append-message, which RFC 4469 extends): it is assembled first,
// so a URL may name the very message replaced. On every failure the old
// message stays (3.4).
func handleReplace(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.ReplaceArgs)
	if a == nil || (a.Message.Literal == nil && a.Message.Parts == nil) {
		return errBAD("", "Missing arguments")
	}
	if c.sel.view.ReadOnly {
		return errNO("CANNOT", "Mailbox is read-only")
	}
	if a.Message.Literal != nil && a.Message.Literal.Size == 0 {
		return errNO("CANNOT", "Empty message") // as APPEND
	}
	rep, ok := c.sel.mbox.(mailstore.Replacer)
	if !ok {
		return errNO("CANNOT", "REPLACE is not supported here")
	}
	v := c.sel.view
	var uid uint32
	if cmd.UID {
		if v.SeqOf(a.Num) == 0 {
			return errNO("NONEXISTENT", "No message with that UID")
		}
		uid = a.Num
	} else {
		if int(a.Num) > v.Messages.Len() {
			return errBAD("", "Invalid message sequence number")
		}
		uid = v.Messages.UID(int(a.Num - 1))
	}
	dest := canonicalName(a.Mailbox)
	if a.Message.Parts != nil {
		if err := c.catenateReplacement(&a.Message, dest); err != nil {
			return err
		}
	}
	m := a.Message
	body, err := appendBody(m)
	if err != nil {
		return err
	}
	uidValidity, newUID, err := rep.Replace(c.ctx, uid, dest, mailstore.AppendRequest{
		Body: body, Flags: storableFlags(m.Flags), Date: m.Date,
	})
	if errors.Is(err, mailstore.ErrNoMessage) {
		// Expunged by another session meanwhile: nothing was appended.
		return &respError{code: "EXPUNGEISSUED", text: "The message was expunged meanwhile", err: err}
	}
	if err != nil {
		return tryCreate(fmt.Errorf("replace into %s: %w", dest, err))
	}
	c.w.Raw("* OK [APPENDUID ").Number32(uidValidity).SP().Number32(newUID).Raw("] Replacement message ready").CRLF()
	// The EXPUNGE (and EXISTS, when dest is this mailbox) follow from
	// the refresh, as after MOVE.
	c.sel.signal()
	c.okText = "REPLACE completed"
	return nil
}

// catenateReplacement assembles the CATENATE message of a REPLACE into
// m.Literal (ReplaceArgs.Close removes it with the command's literals).
// As for APPEND, a destination that does not exist is NO [TRYCREATE]
// before any URL is followed.
func (c *conn) catenateReplacement(m *imapwire.AppendMessage, dest string) error {
	if c.sel.name != dest {
		mbox, err := c.user.Mailbox(c.ctx, dest)
		if err != nil {
			return tryCreate(fmt.Errorf("replace into %s: %w", dest, err))
		}
		mbox.Close()
	}
	lit, err := c.catenate(m.Parts)
	if err != nil {
		return err
	}
	m.Literal = lit
	if lit.Size == 0 {
		return errNO("CANNOT", "Empty message")
	}
	return nil
}
