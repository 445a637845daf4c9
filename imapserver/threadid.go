package imapserver

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/dormouse/dormouse/mailstore"
)

// THREADID (RFC 8474 5.2). A message's THREADID names the thread root its
// own header points at, as THREAD=REFERENCES finds roots (RFC 5256 4 step
// 1): the first Message-ID of its References (RFC 5322 3.6.4 keeps the
// thread's first message there), else its In-Reply-To, else, for a
// message that answers nothing, its own Message-ID. So a thread's first
// message and every reply whose References start with it have one
// THREADID. The identifier is "T" and 16 hex digits of SHA-256 over the
// user's name and that Message-ID: computed from the sort record kept in
// the index (sortrec.go: Message-ID and references), nothing more is
// stored, and it is
//   - immutable (RFC 8474 5.2): it depends on the message's own header
//     alone, not on which other messages exist or arrived first, so it
//     is the same in every session, after a restart, in every mailbox
//     (COPY and MOVE keep it) and for a reply that came before its
//     parent;
//   - the same for different users' copies of a thread only by the
//     user's name, which is in the hash, so ids do not match across
//     users.
//
// Where it differs from a THREAD=REFERENCES tree, by choice: that
// algorithm also follows In-Reply-To chains through the mailbox (a reply
// with In-Reply-To alone joins its parent's tree, here it is a thread of
// its parent's id) and merges roots by subject (step 5); both depend on
// the other messages of the mailbox, and a THREADID may not change when
// they come or go. A message with neither Message-ID nor references is
// a thread of its own: the hash is over its EMAILID instead.

// threadIDChunk is how many THREADIDs FETCH works out at a time.
const threadIDChunk = 1024

// threadIDReader gives FETCH the THREADIDs of the messages it walks, a
// chunk at a time.
type threadIDReader struct {
	c    *conn
	seqs []uint32

	from int
	got  []string
}

// id returns the THREADID of the i-th message of seqs, "" for none.
func (r *threadIDReader) id(i int) (string, error) {
	if i < r.from || i >= r.from+len(r.got) {
		n := min(threadIDChunk, len(r.seqs)-i)
		r.got = nil
		got, err := r.c.threadIDs(r.seqs[i : i+n])
		if err != nil {
			return "", err
		}
		r.from, r.got = i, got
	}
	return r.got[i-r.from], nil
}

// threadIDs returns the THREADID of each message of seqs, in order; ""
// for a message gone from the store, or without Message-ID and
// references in a store that gives no EMAILIDs.
func (c *conn) threadIDs(seqs []uint32) ([]string, error) {
	// sortRecs walks ascending sequence numbers.
	order := make([]int, len(seqs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(seqs[a]) - int(seqs[b]) })
	asc := make([]uint32, len(seqs))
	for j, i := range order {
		asc[j] = seqs[i]
	}
	ids := make([]string, len(seqs))
	var lone []int // messages with no Message-ID to name their thread
	err := c.sortRecs(asc, func(j int, v *recView) {
		i := order[j]
		if root := threadRoot(v); root != nil {
			ids[i] = c.threadID("m", root)
		} else {
			lone = append(lone, i)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(lone) == 0 {
		return ids, nil
	}
	objIDs, ok := c.sel.mbox.(mailstore.ObjectIDs)
	if !ok {
		return ids, nil
	}
	uids := make([]uint32, len(lone))
	for k, i := range lone {
		uids[k] = c.sel.view.Messages.UID(int(seqs[i] - 1))
	}
	emailIDs, err := objIDs.EmailIDs(c.ctx, uids)
	if err != nil {
		return nil, storeError(fmt.Errorf("thread ids: %w", err))
	}
	for k, i := range lone {
		if emailIDs[k] != "" {
			ids[i] = c.threadID("e", []byte(emailIDs[k]))
		}
	}
	return ids, nil
}

// threadRoot returns the Message-ID that names the thread of the message
// whose sort record is v: its first reference (References, else
// In-Reply-To, as the record keeps them), else its own Message-ID; nil
// when it has none.
func threadRoot(v *recView) []byte {
	refs := v.refs
	if count, n := binary.Uvarint(refs); n > 0 && count > 0 {
		if first, _, ok := nextRecString(refs[n:]); ok && len(first) > 0 {
			return first
		}
	}
	if id := v.fields[recMessageID]; len(id) > 0 {
		return id
	}
	return nil
}

// threadID makes the THREADID of a thread named by kind ("m": a
// Message-ID, "e": an EMAILID) and name.
func (c *conn) threadID(kind string, name []byte) string {
	h := sha256.New()
	h.Write([]byte(c.username))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write(name)
	var sum [sha256.Size]byte
	return "T" + hex.EncodeToString(h.Sum(sum[:0])[:8])
}
