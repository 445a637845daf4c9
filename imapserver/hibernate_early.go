package imapserver

import (
	"context"
	"errors"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// Early announcement (docs/design.md): when the store is a
// mailstore.EarlyAnnouncer, the hibernator hears of new messages before
// their transaction commits and tells the sleepers of the mailbox at
// once, from the announcement alone. Everything else about hibernation
// works from committed events; a store without the capability only makes
// deliveries reach sleepers after its commit.

// earlyAdded tells the sleepers of a mailbox of new messages from an
// early announcement, on the announcing goroutine before its transaction
// commits, so that no goroutine waits to be scheduled between the
// announcement and the clients. It must not read the store (a read
// would wait for that commit, which waits for this) nor wait for a
// client: a sleeper that needs more than the announcement (the store, a
// full wake) or whose write may wait (TLS) goes to a goroutine of its
// own. The committed event that follows leaves asleep every sleeper told
// here (mailboxChanged).
func (h *hibernator) earlyAdded(a mailstore.EarlyAdd) {
	var toks []hibernate.Token
	h.mu.Lock()
	if id, ok := h.table.Subscriptions().Lookup(a.User, mailstore.CanonicalName(a.Mailbox)); ok {
		for _, tok := range h.table.AppendWaiters(nil, id) {
			if !h.holdsChanges(tok) && h.acquire(tok, true) {
				toks = append(toks, tok)
			}
		}
	}
	h.mu.Unlock()
	src := earlySource{a}
	for _, tok := range toks {
		h.tellEarly(tok, src)
	}
}

// tellEarly is earlyAdded for one owned sleeper.
func (h *hibernator) tellEarly(tok hibernate.Token, src earlySource) {
	s, st, err := h.owned(tok)
	if err != nil || s.tc != nil {
		// A tls.Conn's write may wait for its client. (A TLS 1.3
		// sleeper on its record state writes to a bare socket, here;
		// finish stores its moved-on sequence number.)
		go h.serve(tok, serveChange, src)
		return
	}
	var blobBuf [blobScratch]byte
	var blob []byte
	// Between commands changes wait for the next IDLE, but for NOTIFY
	// SELECTED's.
	if st.IdleTag != "" || h.notifierOf(tok).pushSelected {
		out, next, ok := applyChanges(st, src)
		if !ok {
			go h.serveCommitted(tok, st, src.changedAt())
			return
		}
		if next != nil {
			if blob, err = next.AppendBinary(blobBuf[:0]); err != nil || len(blob) > hibernate.MaxBlob {
				go h.fullWake(tok, s, wakeMailbox, nil, s.wire(out), next)
				return
			}
			st = next
		}
		if len(out) > 0 {
			out = s.wire(out)
			n, err := s.write(out)
			h.srv.cfg.Metrics.wrote(n)
			if err != nil && s.finalWrites() {
				// Part of a sealed record cannot be finished.
				h.drop(tok, s)
				return
			}
			if err != nil {
				go h.fullWake(tok, s, wakeMailbox, nil, out[n:], st)
				return
			}
			h.srv.cfg.Metrics.served(servedUpdate)
			h.srv.cfg.Metrics.toldSleeper(src.changedAt())
		}
	}
	if h.finish(tok, s, st, blob) {
		// Another change came meanwhile: it is read from the store,
		// after the commit.
		go h.serveCommitted(tok, st, src.changedAt())
	}
}

// serveCommitted serves tok, an owned sleeper in state st, from the
// store once the change an early announcement published at at has
// committed (reads of the index wait for it): the committed event finds
// the sleeper told and passes it by, so the update written here is the
// change's, timed from its publication (wake_seconds).
func (h *hibernator) serveCommitted(tok hibernate.Token, st *hibernate.State, at time.Time) {
	src := newChangeSource(h.srv.cfg.Store, st.User, mailstore.CanonicalName(st.Mailbox), h.memoOf(tok))
	src.at = at
	defer src.close()
	h.serve(tok, serveChange, src)
}

// errLater says that an early announcement does not follow on a
// sleeper's state: the sleeper is told when the change comes again,
// committed.
var errLater = errors.New("early announcement does not follow on this state")

// earlySource answers applyChanges from an early announcement, without
// reading the mailbox, whose commit may still be on its way.
type earlySource struct{ a mailstore.EarlyAdd }

// changes is ChangesSince(modseq) for a sleeper that knew the mailbox as
// of the transaction's start: the new messages and nothing else.
func (e earlySource) changes(_ context.Context, modseq uint64) (mailstore.Changes, error) {
	if modseq != e.a.Since {
		return mailstore.Changes{}, errLater
	}
	ch := mailstore.Changes{
		UIDValidity:   e.a.UIDValidity,
		UIDNext:       e.a.UIDNext,
		HighestModSeq: e.a.HighestModSeq,
		Changed:       make([]mailstore.Message, len(e.a.UIDs)),
		Keywords:      e.a.Keywords,
	}
	for i, uid := range e.a.UIDs {
		ch.Changed[i] = mailstore.Message{UID: uid, ModSeq: e.a.HighestModSeq}
	}
	return ch, nil
}

func (e earlySource) changedAt() time.Time { return e.a.At }

// wholeRecords: an announcement gives the new messages' UIDs alone.
func (e earlySource) wholeRecords() bool { return false }

// envelopes: the mailbox is not read before the commit.
func (e earlySource) envelopes(context.Context, []uint32) ([][]byte, error) { return nil, errLater }

func (e earlySource) claimRecent(_ context.Context, upTo uint32) (from, to uint32, err error) {
	from, to = e.a.ClaimRecent(upTo)
	return from, to, nil
}
