package imapserver

import (
	"fmt"
	"strconv"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// handleCopy serves COPY and UID COPY (RFC 9051 6.4.7) with COPYUID
// (RFC 4315 3).
func handleCopy(c *conn, cmd *imapwire.Command) error {
	uids, dest, err := c.copyArgs(cmd)
	if err != nil || len(uids) == 0 {
		return err
	}
	res, err := c.sel.mbox.Copy(c.ctx, uids, dest)
	if err != nil {
		return tryCreate(fmt.Errorf("copy to %s: %w", dest, err))
	}
	c.okCode = copyUID(res)
	c.okText = "COPY completed"
	return nil
}

// handleMove serves MOVE and UID MOVE (RFC 6851 3.3): COPYUID goes in an
// untagged OK before the EXPUNGE responses.
func handleMove(c *conn, cmd *imapwire.Command) error {
	if c.sel.view.ReadOnly {
		return errNO("CANNOT", "Mailbox is read-only")
	}
	uids, dest, err := c.copyArgs(cmd)
	if err != nil || len(uids) == 0 {
		return err
	}
	res, err := c.sel.mbox.Move(c.ctx, uids, dest)
	if err != nil {
		return tryCreate(fmt.Errorf("move to %s: %w", dest, err))
	}
	if code := copyUID(res); code != "" {
		c.w.Raw("* OK [").Raw(code).Raw("] Moved").CRLF()
	}
	// The EXPUNGEs follow from the refresh (MOVE allows them even by
	// sequence number, RFC 6851 3.3).
	c.sel.signal()
	return nil
}

func (c *conn) copyArgs(cmd *imapwire.Command) (uids []uint32, dest string, err error) {
	a, _ := cmd.Args.(*imapwire.CopyArgs)
	if a == nil {
		return nil, "", errBAD("", "Missing arguments")
	}
	seqs, err := c.resolveSet(a.Set, cmd.UID)
	if err != nil {
		return nil, "", err
	}
	return c.sel.view.UIDsOf(seqs), canonicalName(a.Mailbox), nil
}

// copyUID formats "COPYUID uidvalidity src dst", or "" for no messages.
func copyUID(res mailstore.CopyResult) string {
	if len(res.SourceUIDs) == 0 {
		return ""
	}
	b := []byte("COPYUID ")
	b = strconv.AppendUint(b, uint64(res.UIDValidity), 10)
	b = append(b, ' ')
	b = imapwire.AppendUIDSet(b, res.SourceUIDs)
	b = append(b, ' ')
	b = imapwire.AppendUIDSet(b, res.DestUIDs)
	return string(b)
}
