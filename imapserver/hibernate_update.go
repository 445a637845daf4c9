package imapserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// changeSource is the mailbox a batch of sleepers waits on, opened on
// first use and closed at the end of the batch: no index stays open for
// a sleeping connection. ChangesSince answers are cached by MODSEQ, since
// most sleepers of one mailbox were told the same one; answers that the
// mailbox's memo (hibernate_memo.go) holds for the index's current stamp
// need no open at all. The TLS sleepers of a batch use it from
// goroutines of their own: mu guards it.
type changeSource struct {
	at            time.Time // the event that started the batch was published then
	mu            sync.Mutex
	store         mailstore.Store
	user, mailbox string
	u             mailstore.User
	mb            mailstore.Mailbox
	err           error
	cache         map[uint64]mailstore.Changes
	// memo, when set, is the mailbox's memo; stamp is the index stamp
	// read (once, stamped) before anything this source read.
	memo    *mailboxMemo
	stamp   mailstore.Stamp
	stamped bool // stamp read: stampOK says whether it could be
	stampOK bool
}

// newChangeSource returns the source of user's mailbox; memo is its
// memo, or nil.
func newChangeSource(store mailstore.Store, user, mailbox string, memo *mailboxMemo) *changeSource {
	return &changeSource{store: store, user: user, mailbox: mailbox, memo: memo}
}

// indexStamp returns the stamp of the user's index as it was before this
// source read anything (s.mu held); false without a memo or a stamp.
func (s *changeSource) indexStamp() (mailstore.Stamp, bool) {
	if s.memo == nil {
		return mailstore.Stamp{}, false
	}
	if !s.stamped {
		s.stamped = true
		if st, ok := s.store.(mailstore.Stamper); ok {
			s.stamp, s.stampOK = st.IndexStamp(s.user)
		}
	}
	return s.stamp, s.stampOK
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

func (s *changeSource) changedAt() time.Time { return s.at }

// changes returns ChangesSince(modseq), from the cache when asked before.
func (s *changeSource) changes(ctx context.Context, modseq uint64) (mailstore.Changes, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.cache[modseq]; ok {
		return ch, nil
	}
	stamp, stamped := s.indexStamp()
	if stamped {
		if ch, ok := s.memo.changesSince(stamp, modseq); ok {
			return ch, nil
		}
	}
	mb, err := s.open(ctx)
	if err != nil {
		return mailstore.Changes{}, err
	}
	ch, err := mb.ChangesSince(ctx, modseq)
	if err != nil {
		return mailstore.Changes{}, err
	}
	if stamped {
		s.memo.keepChanges(stamp, modseq, ch)
	}
	if s.cache == nil {
		s.cache = make(map[uint64]mailstore.Changes)
	}
	s.cache[modseq] = ch
	return ch, nil
}

// claimRecent claims \Recent for a sleeper, as its view's refresh would.
func (s *changeSource) claimRecent(ctx context.Context, upTo uint32) (from, to uint32, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.open(ctx)
	if err != nil {
		return 0, 0, err
	}
	claim := imapview.Claimer(ctx, mb)
	if claim == nil {
		return 0, 0, errors.New("the store keeps no \\Recent")
	}
	return claim(upTo)
}

// forget drops the cached answers, after a newer change: the index is
// stamped again before the next read.
func (s *changeSource) forget() {
	s.mu.Lock()
	clear(s.cache)
	s.stamped = false
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
	changes(ctx context.Context, modseq uint64) (mailstore.Changes, error)
	// claimRecent claims \Recent up to upTo, the UIDNEXT the sleeper
	// learns (RecentClaimer).
	claimRecent(ctx context.Context, upTo uint32) (from, to uint32, err error)
	// changedAt is when the change being told was published (zero when
	// the sleeper catches up on changes of no one event).
	changedAt() time.Time
	// wholeRecords says whether changes gives whole records (flags,
	// size, dates), as NOTIFY MessageNew's FETCH needs them; an early
	// announcement gives UIDs alone.
	wholeRecords() bool
	// envelopes returns the envelope header blocks of uids
	// (mailstore.EnvelopeCache), nil for a message gone.
	envelopes(ctx context.Context, uids []uint32) ([][]byte, error)
}

// applyChanges computes what an active IDLE session in state st would
// send for the mailbox's changes since st.HighestModSeq, without building
// a session: the work is that of ChangesSince (the MODSEQ index and the
// expunge log) plus imapview's Apply over st's UID ranges, the function
// an awake session's refresh calls too, and the same encoder writes it.
// It returns the bytes and the state after them; next is nil when the
// state did not change. ok is false when it cannot be done exactly in
// place (the mailbox is gone or was recreated, the expunge log does not
// reach back, a claim of \Recent failed): then a full wake must replay it.
func applyChanges(st *hibernate.State, src changeReader) (out []byte, next *hibernate.State, ok bool) {
	if st.Mailbox == "" {
		return nil, nil, true // nothing selected, nothing to tell
	}
	ctx := context.Background()
	ch, err := src.changes(ctx, st.HighestModSeq)
	if errors.Is(err, errLater) {
		return nil, nil, true
	}
	if err != nil {
		return nil, nil, false
	}
	v, err := imapview.FromState(st)
	if err != nil {
		return nil, nil, false
	}
	// Before the view takes the change (and claims \Recent): whether
	// NOTIFY's MessageNew FETCH can be written here (notify_fetch.go).
	fetchNew := planNotifyNew(ctx, st, v, ch, src)
	switch {
	case fetchNew.later:
		return nil, nil, true
	case fetchNew.wake:
		return nil, nil, false
	}
	up, err := v.Apply(ch, func(upTo uint32) (from, to uint32, err error) {
		return src.claimRecent(ctx, upTo)
	})
	if err != nil {
		return nil, nil, false
	}
	n := *st
	v.Export(&n) // keeps the states that are not the view's (NOTIFY, transport)
	if n.HighestModSeq == st.HighestModSeq && n.UIDNext == st.UIDNext && slices.EqualFunc(n.ExtState, st.ExtState, sameExt) {
		return nil, nil, true // nothing to tell and nothing to forget
	}
	var buf bytes.Buffer
	bw := bufio.NewWriterSize(&buf, 512)
	e := encoder{w: imapwire.NewWriter(bw), en: enabledOf(st.Enabled)}
	// As the session's writer: under UTF8=ACCEPT an ENVELOPE quotes
	// 8-bit text (RFC 6855 3) that goes as a literal otherwise.
	e.w.UTF8 = e.en.utf8
	e.update(v, up)
	fetchNew.write(e, v, up)
	bw.Flush()
	return buf.Bytes(), &n, true
}

func sameExt(a, b hibernate.ExtState) bool { return a.Kind == b.Kind && bytes.Equal(a.Data, b.Data) }
