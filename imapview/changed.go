package imapview

import "iter"

// ChangedSince yields, ascending, the sequence numbers of the view's
// messages whose MODSEQ is above modseq (CONDSTORE's CHANGEDSINCE, the
// changes QRESYNC reports). It looks only into the blocks of
// the list whose highest MODSEQ is above modseq
// (mailstore.MessageList.ChangedSince). For a view with records
// (awake).
func (v *View) ChangedSince(modseq uint64) iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		for i := range v.Messages.ChangedSince(modseq) {
			if !yield(uint32(i + 1)) {
				return
			}
		}
	}
}
