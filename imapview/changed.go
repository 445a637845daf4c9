package imapview

import (
	"iter"

	"github.com/dormouse/dormouse/mailstore"
)

// ChangedSince yields, ascending, the sequence numbers of the view's
// messages whose MODSEQ is above modseq (CONDSTORE's CHANGEDSINCE, the
// changes QRESYNC reports). It looks only into the runs of
// mailstore.ModSeqBlock messages whose summary entry is above modseq: a
// resync of a million-message mailbox where a hundred messages changed
// reads a few thousand words and a hundred runs, not every record. For a
// view with records (awake).
func (v *View) ChangedSince(modseq uint64) iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		msgs := v.Messages
		if v.blocks == nil && len(msgs) > 0 {
			v.blocks = mailstore.ModSeqBlocks(msgs)
		}
		for b, top := range v.blocks {
			if top <= modseq {
				continue
			}
			end := min((b+1)*mailstore.ModSeqBlock, len(msgs))
			for i := b * mailstore.ModSeqBlock; i < end; i++ {
				if msgs[i].ModSeq > modseq && !yield(uint32(i+1)) {
					return
				}
			}
		}
	}
}
