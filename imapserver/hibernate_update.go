package imapserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// changeSource is the mailbox a batch of sleepers waits on, opened on
// first use and closed at the end of the batch: no index stays open for
// a sleeping connection. ChangesSince answers are cached by MODSEQ, since
// most sleepers of one mailbox were told the same one. The TLS sleepers
// of a batch use it from goroutines of their own: mu guards it.
type changeSource struct {
	mu            sync.Mutex
	store         mailstore.Store
	user, mailbox string
	u             mailstore.User
	mb            mailstore.Mailbox
	err           error
	cache         map[uint64]mailstore.Changes
}

func newChangeSource(store mailstore.Store, user, mailbox string) *changeSource {
	return &changeSource{store: store, user: user, mailbox: mailbox}
}

func (s *changeSource) open(ctx context.Context) (mailstore.Mailbox, error) {
	if s.mb != nil || s.err != nil {
		return s.mb, s.err
	}
	u, err := s.store.User(ctx, s.user)
	if err != nil {
		s.err = fmt.Errorf("open user %s: %w", s.user, err)
		return nil, s.err
	}
	mb, err := u.Mailbox(ctx, s.mailbox)
	if err != nil {
		u.Close()
		s.err = fmt.Errorf("open %s: %w", s.mailbox, err)
		return nil, s.err
	}
	s.u, s.mb = u, mb
	return mb, nil
}

// changes returns ChangesSince(modseq), from the cache when asked before.
func (s *changeSource) changes(ctx context.Context, modseq uint64) (mailstore.Changes, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.cache[modseq]; ok {
		return ch, nil
	}
	mb, err := s.open(ctx)
	if err != nil {
		return mailstore.Changes{}, err
	}
	ch, err := mb.ChangesSince(ctx, modseq)
	if err != nil {
		return mailstore.Changes{}, err
	}
	if s.cache == nil {
		s.cache = make(map[uint64]mailstore.Changes)
	}
	s.cache[modseq] = ch
	return ch, nil
}

// uidValidity returns the mailbox's UIDVALIDITY, opening it.
func (s *changeSource) uidValidity(ctx context.Context) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.open(ctx)
	if err != nil {
		return 0, err
	}
	return mb.UIDValidity(), nil
}

// claimRecent claims \Recent for a sleeper, as its view's Refresh would.
func (s *changeSource) claimRecent(ctx context.Context, upTo uint32) (from, to uint32, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.open(ctx)
	if err != nil {
		return 0, 0, err
	}
	rc, ok := mb.(mailstore.RecentClaimer)
	if !ok {
		return 0, 0, errors.New("the store cannot claim \\Recent without a view")
	}
	return rc.ClaimRecent(ctx, upTo)
}

// forget drops the cached answers, after a newer change.
func (s *changeSource) forget() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

func (s *changeSource) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mb != nil {
		s.mb.Close()
		s.u.Close()
		s.mb, s.u = nil, nil
	}
}

// changeReader is what applyChanges asks of a sleeper's mailbox: the
// store (changeSource) or an early announcement (earlySource).
type changeReader interface {
	uidValidity(ctx context.Context) (uint32, error)
	changes(ctx context.Context, modseq uint64) (mailstore.Changes, error)
	// claimRecent claims \Recent up to upTo, the UIDNEXT the sleeper
	// learns (RecentClaimer).
	claimRecent(ctx context.Context, upTo uint32) (from, to uint32, err error)
}

// applyChanges computes what an active IDLE session in state st would
// send for the mailbox's changes since st.HighestModSeq, without building
// a view: the work is that of ChangesSince (the MODSEQ index and the
// expunge log) plus a walk over st's UID ranges. It returns the bytes
// (written by the active path's writeChanges) and the state after them;
// next is nil when the state did not change. ok is false when it cannot
// be done exactly in place (the mailbox is gone or was recreated, the
// expunge log does not reach back, a claim of \Recent is impossible):
// then a full wake must replay it.
func applyChanges(srv *Server, st *hibernate.State, src changeReader) (out []byte, next *hibernate.State, ok bool) {
	ctx := context.Background()
	uv, err := src.uidValidity(ctx)
	if err != nil || uv != st.UIDValidity {
		return nil, nil, false
	}
	ch, err := src.changes(ctx, st.HighestModSeq)
	if errors.Is(err, errLater) {
		return nil, nil, true
	}
	if err != nil {
		return nil, nil, false
	}
	ext, err := parseSessionExt(st)
	if err != nil {
		return nil, nil, false
	}
	if ch.HighestModSeq <= st.HighestModSeq {
		// Refresh finds nothing; the session only forgets what it told.
		if len(ext.told) == 0 {
			return nil, nil, true
		}
		n := *st
		ext.told = nil
		n.ExtState = ext.appendTo(nil)
		return nil, &n, true
	}
	d := deltaOf(st.UIDs, st.UIDNext, ch.Expunged, ch.Changed)
	recent := removeUIDs(append([]uint32(nil), ext.recent...), d.goneUIDs)
	if !st.ReadOnly && len(d.added) > 0 {
		// The view claims \Recent, as its Refresh would (the store's
		// claimRecent, for the new UIDs only, up to the last one it
		// learns: a later one stays for whoever learns it first).
		from, to, err := src.claimRecent(ctx, d.added[len(d.added)-1]+1)
		if err != nil {
			return nil, nil, false
		}
		for _, u := range d.added {
			if u >= from && u < to {
				recent = append(recent, u)
			}
		}
	}
	up := mailstore.Update{
		ExpungedSeqs:    d.goneSeqs,
		ExpungedUIDs:    d.goneUIDs,
		Added:           len(d.added),
		KeywordsChanged: len(ch.Keywords) > ext.keywords,
	}
	messages := int(st.Messages) - len(d.goneUIDs) + len(d.added)

	// A shell of a session, enough for the writers of updates.go.
	var buf bytes.Buffer
	bw := bufio.NewWriterSize(&buf, 512)
	sc := &conn{srv: srv, w: imapwire.NewWriter(bw)}
	sc.enabled = enabledOf(st.Enabled)
	sc.sel = &selected{
		name:     st.Mailbox,
		readOnly: st.ReadOnly,
		view:     &mailstore.View{Recent: recent},
		told:     ext.told,
		saved:    ext.saved,
	}
	sc.writeChanges(up, ch.Keywords, messages, len(recent), d.kept)
	bw.Flush()

	n := *st
	n.UIDs = d.uids
	n.Messages = uint32(messages)
	n.HighestModSeq = ch.HighestModSeq
	if k := len(d.added); k > 0 && d.added[k-1] >= n.UIDNext {
		n.UIDNext = d.added[k-1] + 1
	}
	ext.recent = recent
	ext.keywords = len(ch.Keywords)
	ext.told = sc.sel.told
	ext.saved = sc.sel.saved
	n.ExtState = ext.appendTo(nil)
	return buf.Bytes(), &n, true
}

// rangeDelta is a change applied to a sleeper's UID ranges (S).
type rangeDelta struct {
	goneUIDs []uint32 // expunged UIDs of S, ascending
	goneSeqs []uint32 // their sequence numbers in S, descending
	added    []uint32 // new UIDs, ascending, appended to S
	kept     []seqMsg // changed messages of S, numbered after the expunges
	uids     []hibernate.UIDRange
}

// deltaOf applies ChangesSince's answer to S as Refresh applies it to a
// view (mailstore/maildir applyDelta): expunged UIDs leave S, changed
// records with UIDs from uidNext on are new messages at its end, the
// others, when in S, are flag changes. The cost is linear in the ranges
// of S and the size of the change, never in the number of messages.
func deltaOf(s []hibernate.UIDRange, uidNext uint32, expunged []uint32, changed []mailstore.Message) rangeDelta {
	var d rangeDelta
	// Expunged UIDs in S, with their ranks.
	i, base := 0, uint32(0)
	for _, u := range expunged {
		for i < len(s) && s[i].Last < u {
			base += s[i].Last - s[i].First + 1
			i++
		}
		if i == len(s) {
			break
		}
		if u >= s[i].First {
			d.goneUIDs = append(d.goneUIDs, u)
			d.goneSeqs = append(d.goneSeqs, base+u-s[i].First+1)
		}
	}
	for a, b := 0, len(d.goneSeqs)-1; a < b; a, b = a+1, b-1 {
		d.goneSeqs[a], d.goneSeqs[b] = d.goneSeqs[b], d.goneSeqs[a]
	}
	// Changed records: flag changes in S, renumbered, and new messages.
	i, base = 0, 0
	g := 0
	for k := range changed {
		m := &changed[k]
		if m.UID >= uidNext {
			d.added = append(d.added, m.UID)
			continue
		}
		for i < len(s) && s[i].Last < m.UID {
			base += s[i].Last - s[i].First + 1
			i++
		}
		if i == len(s) || m.UID < s[i].First {
			continue // not in S: Refresh ignores it too
		}
		for g < len(d.goneUIDs) && d.goneUIDs[g] < m.UID {
			g++
		}
		if g < len(d.goneUIDs) && d.goneUIDs[g] == m.UID {
			continue
		}
		d.kept = append(d.kept, seqMsg{base + m.UID - s[i].First + 1 - uint32(g), m})
	}
	// S without the expunged UIDs, then the new ones.
	g = 0
	for _, r := range s {
		first := r.First
		for g < len(d.goneUIDs) && d.goneUIDs[g] <= r.Last {
			u := d.goneUIDs[g]
			g++
			if u < first {
				continue
			}
			if u > first {
				d.uids = append(d.uids, hibernate.UIDRange{First: first, Last: u - 1})
			}
			if u == r.Last {
				first = 0
				break
			}
			first = u + 1
		}
		if first != 0 {
			d.uids = append(d.uids, hibernate.UIDRange{First: first, Last: r.Last})
		}
	}
	for _, u := range d.added {
		if n := len(d.uids); n > 0 && d.uids[n-1].Last+1 == u {
			d.uids[n-1].Last = u
			continue
		}
		d.uids = append(d.uids, hibernate.UIDRange{First: u, Last: u})
	}
	return d
}
