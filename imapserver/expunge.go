package imapserver

import (
	"fmt"

	"github.com/dormouse/dormouse/imapwire"
)

// handleExpunge serves EXPUNGE (RFC 9051 6.4.3) and UID EXPUNGE (RFC 4315
// 2.1). The EXPUNGE responses come from the refresh that follows, which
// also reports other sessions' expunges in the same numbering.
func handleExpunge(c *conn, cmd *imapwire.Command) error {
	if c.sel.view.ReadOnly {
		return errNO("CANNOT", "Mailbox is read-only")
	}
	var uids []uint32
	if cmd.UID {
		a, _ := cmd.Args.(*imapwire.ExpungeArgs)
		if a == nil {
			return errBAD("", "Missing UID set")
		}
		seqs, err := c.resolveSet(a.Set, true)
		if err != nil {
			return err
		}
		if len(seqs) == 0 {
			return nil
		}
		uids = c.sel.view.UIDsOf(seqs)
	}
	if _, err := c.sel.mbox.Expunge(c.ctx, uids); err != nil {
		return storeError(fmt.Errorf("expunge %s: %w", c.sel.name, err))
	}
	c.sel.signal()
	return nil
}
