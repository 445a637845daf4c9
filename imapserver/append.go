package imapserver

import (
	"fmt"
	"strings"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// handleAppend serves APPEND (RFC 9051 6.3.12), MULTIAPPEND (RFC 3502),
// APPENDUID (RFC 4315) and CATENATE (RFC 4469, catenate.go). Literals over
// the size limit never reach here: the Decoder refuses them with NO
// [TOOBIG] without buffering them. A missing mailbox is found before any
// CATENATE URL is followed: NO [TRYCREATE] first (RFC 4469 6).
func handleAppend(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.AppendArgs)
	if a == nil || len(a.Messages) == 0 {
		return errBAD("", "Missing message")
	}
	name := canonicalName(a.Mailbox)
	var mbox mailstore.Mailbox
	if c.sel != nil && c.sel.name == name {
		mbox = c.sel.mbox
	} else {
		m, err := c.user.Mailbox(c.ctx, name)
		if err != nil {
			return tryCreate(err)
		}
		defer m.Close()
		mbox = m
	}
	for i := range a.Messages {
		m := &a.Messages[i]
		if m.Parts != nil {
			// The assembled message replaces the parts; AppendArgs.Close
			// removes it with the command's literals.
			lit, err := c.catenate(m.Parts)
			if err != nil {
				return err
			}
			m.Literal = lit
		}
		if m.Literal == nil {
			return errBAD("", "Missing message literal")
		}
		if m.Literal.Size == 0 {
			// RFC 9051 6.3.12 leaves an empty message to the server.
			return errNO("CANNOT", "Empty message")
		}
	}
	var uids []uint32
	if len(a.Messages) == 1 {
		m := a.Messages[0]
		uid, err := mbox.Append(c.ctx, m.Literal.Reader(), storableFlags(m.Flags), m.Date)
		if err != nil {
			return tryCreate(fmt.Errorf("append %s: %w", name, err))
		}
		uids = []uint32{uid}
	} else {
		reqs := make([]mailstore.AppendRequest, len(a.Messages))
		for i, m := range a.Messages {
			reqs[i] = mailstore.AppendRequest{Body: m.Literal.Reader(), Flags: storableFlags(m.Flags), Date: m.Date}
		}
		var err error
		uids, err = mbox.AppendMany(c.ctx, reqs)
		if err != nil {
			return tryCreate(fmt.Errorf("append %s: %w", name, err))
		}
	}
	c.okCode = string(imapwire.AppendUIDSet([]byte(fmt.Sprintf("APPENDUID %d ", mbox.UIDValidity())), uids))
	c.okText = "APPEND completed"
	// The new message is announced by the updates that follow (EXISTS),
	// whose token the store's event has set.
	return nil
}

// storableFlags drops \Recent, which clients cannot set (RFC 9051 2.3.2).
func storableFlags(flags []string) []string {
	out := flags[:0:0]
	for _, f := range flags {
		if !strings.EqualFold(f, `\Recent`) {
			out = append(out, f)
		}
	}
	return out
}
