package imapserver

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// handleStore serves STORE and UID STORE (RFC 9051 6.4.6) with
// UNCHANGEDSINCE and MODIFIED (RFC 7162 3.1.3).
func handleStore(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.StoreArgs)
	if a == nil {
		return errBAD("", "Missing arguments")
	}
	if c.sel.view.ReadOnly {
		return errNO("CANNOT", "Mailbox is read-only")
	}
	if a.UnchangedSince != nil {
		c.enableCondstore()
	}
	seqs, err := c.resolveSet(a.Set, cmd.UID)
	if err != nil {
		return err
	}
	v := c.sel.view
	flags := storableFlags(a.Flags)
	var op mailstore.StoreOp
	switch a.Op {
	case imapwire.StoreAdd:
		op = mailstore.FlagsAdd
	case imapwire.StoreRemove:
		op = mailstore.FlagsRemove
	default:
		op = mailstore.FlagsReplace
	}
	var unchangedSince uint64
	if a.UnchangedSince != nil {
		unchangedSince = *a.UnchangedSince
		if unchangedSince == 0 {
			// RFC 7162 3.1.3: UNCHANGEDSINCE 0 fails for every message
			// (all have MODSEQ >= 1); the store treats 0 as "absent".
			unchanged := v.UIDsOf(seqs)
			c.modifiedCode(cmd.UID, unchanged)
			return nil
		}
	}
	if len(seqs) == 0 {
		return nil
	}
	uids := v.UIDsOf(seqs)
	changed, failed, err := c.sel.mbox.StoreFlags(c.ctx, uids, op, flags, unchangedSince)
	if err != nil {
		return storeError(fmt.Errorf("store: %w", err))
	}
	// A new keyword grows FLAGS before any FETCH shows it (RFC 9051 7.3.5).
	if newKW := newKeywords(v.Keywords, flags); len(newKW) > 0 && op != mailstore.FlagsRemove {
		v.AddKeywords(newKW)
		c.writeFlags(v.Keywords)
	}
	changedSeqs := c.applyChanged(changed)
	if !a.Silent || c.enabled.condstore {
		slices.Sort(failed)
		for _, seq := range seqs {
			u := v.Messages.UID(int(seq - 1))
			if _, ok := slices.BinarySearch(failed, u); ok {
				continue
			}
			// RFC 7162 3.1.3: with .SILENT, messages whose MODSEQ moved
			// still report it when CONDSTORE is on.
			if a.Silent && !(changedSeqs[seq] && c.enabled.condstore) {
				continue
			}
			c.writeStoreFetch(seq, cmd.UID, a.Silent)
		}
	}
	if len(failed) > 0 {
		c.modifiedCode(cmd.UID, failed)
	}
	return nil
}

// writeStoreFetch reports a message's flags after STORE.
func (c *conn) writeStoreFetch(seq uint32, uid, silent bool) {
	rec := c.sel.view.Messages.At(int(seq - 1))
	m := &rec
	c.w.Raw("* ").Number32(seq).Raw(" FETCH (")
	if uid {
		c.w.Raw("UID ").Number32(m.UID).SP()
	}
	if !silent {
		c.w.Raw("FLAGS ")
		c.writeMsgFlags(m)
		if c.enabled.condstore {
			c.w.SP()
		}
	}
	if c.enabled.condstore {
		c.w.Raw("MODSEQ (").Number(m.ModSeq).Raw(")")
	}
	c.w.Raw(")").CRLF()
}

// modifiedCode sets the tagged OK's [MODIFIED set] (RFC 7162 3.1.3): UIDs
// for UID STORE, sequence numbers otherwise.
func (c *conn) modifiedCode(uid bool, uids []uint32) {
	if len(uids) == 0 {
		return
	}
	nums := slices.Clone(uids)
	if !uid {
		for i, u := range nums {
			nums[i] = c.sel.view.SeqOf(u)
		}
	}
	slices.Sort(nums)
	c.okCode = "MODIFIED " + imapwire.FormatUIDSet(nums)
	c.okText = "Conditional STORE failed"
}

// newKeywords returns the keywords of flags not in known (sorted).
func newKeywords(known, flags []string) []string {
	var out []string
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			continue
		}
		if _, ok := slices.BinarySearch(known, f); ok || slices.Contains(out, f) {
			continue
		}
		out = append(out, f)
	}
	return out
}
