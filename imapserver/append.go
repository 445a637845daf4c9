package imapserver

import (
	"fmt"
	"io"
	"strings"

	"github.com/dormouse/dormouse/imapmsg"
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
		body, err := appendBody(m)
		if err != nil {
			return err
		}
		uid, err := mbox.Append(c.ctx, body, storableFlags(m.Flags), m.Date)
		if err != nil {
			return tryCreate(fmt.Errorf("append %s: %w", name, err))
		}
		uids = []uint32{uid}
	} else {
		reqs := make([]mailstore.AppendRequest, len(a.Messages))
		for i, m := range a.Messages {
			body, err := appendBody(m)
			if err != nil {
				return err
			}
			reqs[i] = mailstore.AppendRequest{Body: body, Flags: storableFlags(m.Flags), Date: m.Date}
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

// appendBody returns what APPEND or REPLACE stores of m: the message as
// sent, or, sent as a literal8 (RFC 3516 4.4), with its parts in the
// binary transfer encoding made base64, as Dovecot stores it
// (imapmsg.StoreBinary): BINARY[part] gives their octets back, and
// BODY[part] and BODY[] stay text a literal can carry (RFC 9051 4.3:
// no NUL in a literal).
func appendBody(m imapwire.AppendMessage) (io.Reader, error) {
	if m.Binary {
		out, converted, err := imapmsg.StoreBinary(m.Literal.ReaderAt(), m.Literal.Size)
		if err != nil {
			return nil, errNO("PARSE", "Cannot parse the binary message")
		}
		if converted {
			return out, nil
		}
	}
	return m.Literal.Reader(), nil
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
