package mailstore

// ModSeqBlock is how many consecutive messages of a list one entry of its
// MODSEQ summary (ModSeqBlocks) covers.
const ModSeqBlock = 64

// ModSeqBlocks returns the MODSEQ summary of msgs: for each run of
// ModSeqBlock messages (the last may be shorter), the highest MODSEQ among
// them. A search for the messages changed since a MODSEQ (CONDSTORE's
// CHANGEDSINCE, QRESYNC) skips every run whose entry is not above it, so
// that it looks at a few runs of a million-message list where a few
// messages changed, not at every message. An entry may be above its
// run's highest MODSEQ (a summary kept up to date by raising entries only
// stays usable), never below it.
func ModSeqBlocks(msgs []Message) []uint64 {
	b := make([]uint64, (len(msgs)+ModSeqBlock-1)/ModSeqBlock)
	for i := range msgs {
		RaiseModSeqBlock(b, i, msgs[i].ModSeq)
	}
	return b
}

// RaiseModSeqBlock records in the summary b that the message at index i
// of its list has MODSEQ modseq.
func RaiseModSeqBlock(b []uint64, i int, modseq uint64) {
	if e := &b[i/ModSeqBlock]; modseq > *e {
		*e = modseq
	}
}
