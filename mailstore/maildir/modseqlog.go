package maildir

// The MODSEQ bucket (bktModSeq) lets CHANGEDSINCE and QRESYNC find what
// changed after a MODSEQ without reading every record: one entry per
// message, under its MODSEQ. The first open of a large folder gives every
// file a UID and a MODSEQ, and those entries were a third of its B-tree
// inserts (a bbolt Put costs a binary search of the bucket's one big
// node, twice, and the node's slice regrows as it fills) for a log that
// only ever answers "everything": no client can know a MODSEQ of the
// mailbox from before the folder was indexed, and a CHANGEDSINCE below
// the end of that first indexing names nearly every message anyway.
//
// So a bulk ingest (ingestRest of at least unloggedMin files, into a
// mailbox whose every MODSEQ a client may know is at or below the last
// bulk's end) writes no entries, and the mailbox's meta keeps
// unloggedModSeq, its highest MODSEQ after the bulk. Invariant: every
// message whose MODSEQ is above unloggedModSeq has its entry (inserts
// and updates after the bulk write them, as before; an update of a bulk
// message deletes an entry it never had, which bbolt allows). A
// CHANGEDSINCE at or above it walks the entries as before; one below it
// walks the records (changedSinceWalk), which is what the answer costs
// anyway. An index from before has unloggedModSeq 0 and every entry.

// unloggedMin is the fewest files a rescan must find new to the index to
// ingest them without MODSEQ entries: fewer are a delivery or a copy into
// cur/ by another program, after which a client's CHANGEDSINCE from just
// before them would otherwise walk every record once.
const unloggedMin = 500

// bulkAllowed reports whether no client can know a MODSEQ of the mailbox
// below its highest but from a bulk ingest: nothing changed since the
// mailbox's state was made (HIGHESTMODSEQ 1) or since the last bulk
// ingest ended. A bulk ingest may then leave its messages unlogged.
func (m *mboxTx) bulkAllowed() bool {
	return m.meta.highestModSeq <= max(1, m.meta.unloggedModSeq)
}

// ingestUnlogged runs ingest (a batch of ingestRest) with put writing no
// MODSEQ entries, and moves unloggedModSeq up to the MODSEQs it gave.
func (m *mboxTx) ingestUnlogged(ingest func() (added int, err error)) error {
	m.unlogged = true
	added, err := ingest()
	m.unlogged = true
	if err == nil && added > 0 {
		m.meta.unloggedModSeq = m.meta.highestModSeq
	}
	return err
}

// changedSinceWalk is changedSince for a MODSEQ below unloggedModSeq: the
// records with a higher MODSEQ, from the records themselves, ascending by
// UID.
func (m *mboxTx) changedSinceWalk(modseq uint64) ([]msgRec, error) {
	var recs []msgRec
	c := m.msgs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r, err := decodeRec(beUint32(k), v, false)
		if err != nil {
			return nil, err
		}
		if r.modSeq > modseq {
			recs = append(recs, r)
		}
	}
	return recs, nil
}
