package imapserver

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// contextCaps are the capabilities of RFC 5267 4: SEARCH and SORT with
// RETURN (UPDATE), kept up to date by imapview.View.Apply (the one place
// a store change meets a view, awake or asleep) and told as ESEARCH
// ADDTO and REMOVEFROM (encoder.update), with CANCELUPDATE; the CONTEXT
// hint (4.2) is accepted and changes nothing, PARTIAL (4.4) is served as
// RFC 9394 has it (partial.go).
const contextCaps = "CONTEXT=SEARCH CONTEXT=SORT"

// checkContextTag refuses a searching command with RETURN (UPDATE) whose
// tag a live context has: RFC 5267 4.3 wants BAD, before any result.
func (c *conn) checkContextTag(cmd *imapwire.Command, ret returnOptions) error {
	if ret.update && c.sel.view.HasContext(cmd.Tag) {
		return errBAD("", "Tag reuse: a search context has this tag (RFC 5267 4.3)")
	}
	return nil
}

// startContext makes a searching command with RETURN (UPDATE) a live
// context (RFC 5267 4.3) of the selected view: key its criteria, sort its
// sort keys (nil for SEARCH), order the messages found (sequence numbers,
// ascending or in the sort order). When the context cannot be kept
// (criteria naming messages by number, "$", "*" or the clock, or the
// limit of imapview.MaxContexts) the client is told
// with an untagged NO [NOUPDATE "tag"], and the command's other return
// options are answered all the same (RFC 5267 4.3.1).
func (c *conn) startContext(cmd *imapwire.Command, key *imapwire.SearchKey, sort []imapwire.SortCriterion, order []uint32) error {
	v := c.sel.view
	ctx, err := imapview.NewContext(cmd.Tag, cmd.UID, key, sort, v.UIDsOf(order))
	if err == nil {
		err = v.AddContext(ctx)
	}
	var no *imapview.NoUpdateError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &no):
		c.w.Raw(`* NO [NOUPDATE `).String(cmd.Tag).Raw("] ").Raw(no.Reason).CRLF()
		return nil
	}
	return err
}

// handleCancelUpdate serves CANCELUPDATE (RFC 5267 4.3.5): the contexts
// of the tags given end, all or (when one tag names none) none.
func handleCancelUpdate(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.CancelUpdateArgs)
	if a == nil || len(a.Tags) == 0 {
		return errBAD("", "Missing tags")
	}
	if tag, ok := c.sel.view.CancelContexts(a.Tags); !ok {
		return errNO("", "No search context has the tag "+tag)
	}
	return nil
}

// searchContexts writes "* ESEARCH (TAG "t") [UID] REMOVEFROM (...)
// ADDTO (...)" for the changes of each context (RFC 5267 4.3.2), which
// the client applies in order: removals, then additions. pick chooses
// which of an update's lists go in this response.
func (e encoder) searchContexts(ups []imapview.ContextUpdate, pick func(u *imapview.ContextUpdate) (removed, added []imapview.Position)) {
	for i := range ups {
		u := &ups[i]
		removed, added := pick(u)
		if len(removed) == 0 && len(added) == 0 {
			continue
		}
		e.w.Raw(`* ESEARCH (TAG `).String(u.Tag).Raw(")")
		if u.UID {
			e.w.Raw(" UID")
		}
		if len(removed) > 0 {
			e.w.Raw(" REMOVEFROM (")
			e.positions(removed)
			e.w.Raw(")")
		}
		if len(added) > 0 {
			e.w.Raw(" ADDTO (")
			e.positions(added)
			e.w.Raw(")")
		}
		e.w.CRLF()
	}
}

// positions writes the context-position and sequence-set pairs of ADDTO
// or REMOVEFROM (RFC 5267 5): a SEARCH context's (position 0) as one set
// in mailbox order, the shortest form (RFC 5267 4.3.3, 4.3.4); a SORT
// context's as one pair per message, each position valid after the pairs
// before it.
func (e encoder) positions(ps []imapview.Position) {
	if ps[0].At == 0 {
		nums := make([]uint32, len(ps))
		for i, p := range ps {
			nums[i] = p.Num
		}
		slices.Sort(nums)
		e.w.Raw("0 ").RawBytes(imapwire.AppendUIDSet(nil, nums))
		return
	}
	for i, p := range ps {
		if i > 0 {
			e.w.SP()
		}
		e.w.Number32(p.At).SP().Number32(p.Num)
	}
}

// contextEval is the imapview.ContextEval of a session's view: SEARCH's
// evaluation (searcher) and SORT's order (sortMessages), over the view
// as Apply has just made it, for the keys a record does not answer.
type contextEval struct{ c *conn }

// Match evaluates sc's criteria on message uid of the selected view.
func (e contextEval) Match(sc *imapview.Context, uid uint32) (bool, error) {
	c := e.c
	seq := c.sel.view.SeqOf(uid)
	if seq == 0 {
		return false, nil
	}
	s := searcher{c: c, now: time.Now(), interrupted: c.interrupted}
	if err := s.prepare(sc.Key()); err != nil {
		return false, err
	}
	defer s.release()
	ok, err := s.match(seq, sc.Key())
	if errors.Is(err, mailstore.ErrNoMessage) {
		return false, nil // gone from the store: the next change says so
	}
	if err != nil {
		return false, fmt.Errorf("search context %s: %w", sc.Tag, err)
	}
	return ok, nil
}

// Order returns uids (ascending, messages of the view) in sc's sort
// order, as SORT gives it.
func (e contextEval) Order(sc *imapview.Context, uids []uint32) ([]uint32, error) {
	v := e.c.sel.view
	seqs := make([]uint32, 0, len(uids))
	for _, u := range uids {
		if s := v.SeqOf(u); s > 0 {
			seqs = append(seqs, s)
		}
	}
	order, err := e.c.sortMessages(seqs, sc.Sort())
	if err != nil {
		return nil, fmt.Errorf("search context %s: %w", sc.Tag, err)
	}
	return v.UIDsOf(order), nil
}
