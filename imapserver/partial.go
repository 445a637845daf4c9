package imapserver

import "github.com/dormouse/dormouse/imapwire"

// PARTIAL (RFC 9394): SEARCH, UID SEARCH and SORT RETURN (PARTIAL m:n)
// return the m-th to n-th results (-1 the last), in an ESEARCH PARTIAL
// item that repeats the range as asked, NIL when no result falls in it
// (3.1); MIN, MAX and COUNT, beside it, are of the whole result. UID
// FETCH's PARTIAL modifier (3.3) answers only the messages of the range
// among those the command names (after CHANGEDSINCE). Nothing of it is
// session state but what SAVE keeps, which hibernates as SEARCHRES does.

// partialCap is the capability, advertised beside baseCaps.
const partialCap = " PARTIAL"

// writePartialResult writes " PARTIAL (range set)" for nums, the
// results in the command's order (UIDs for UID SEARCH), when r is set.
func writePartialResult(w *imapwire.Writer, r *imapwire.PartialRange, nums []uint32) {
	if r == nil {
		return
	}
	w.Raw(" PARTIAL (").Raw(r.String()).SP()
	if lo, hi := r.Bounds(len(nums)); lo < hi {
		w.Raw(imapwire.FormatUIDSet(nums[lo:hi]))
	} else {
		w.NIL()
	}
	w.Raw(")")
}

// returned lists the messages MIN, MAX and PARTIAL return of order (the
// results in the command's order): what the MODSEQ of an ESEARCH
// without ALL and COUNT covers (RFC 7162 3.1.5) and what SAVE keeps
// beside PARTIAL (RFC 9394 3.2).
func (r returnOptions) returned(order []uint32) []uint32 {
	if len(order) == 0 {
		return nil
	}
	var out []uint32
	if r.partial != nil {
		lo, hi := r.partial.Bounds(len(order))
		out = append(out, order[lo:hi]...)
	}
	if r.min {
		out = append(out, order[0])
	}
	if r.max {
		out = append(out, order[len(order)-1])
	}
	return out
}

// saveReturned keeps the result of a SEARCH or SORT with SAVE for "$"
// (RFC 5182 2.1). Beside PARTIAL (RFC 9394 3.2, Table 1) it keeps the
// messages PARTIAL returns with the MIN and MAX messages, or with COUNT
// every message found.
func (c *conn) saveReturned(order []uint32, r returnOptions) {
	if r.partial == nil || r.count {
		c.saveResult(order, r.min, r.max, r.all || r.count || r.partial != nil)
		return
	}
	c.saveResult(r.returned(order), false, false, true)
}
