package imapserver

import (
	"cmp"
	"slices"
	"sync"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// A sleeping connection's keepalive answers (Thunderbird: DONE, NOOP,
// GETQUOTAROOT, UID FETCH <uidnext>:* (FLAGS), IDLE) read the user's
// index even when nothing changed: a handle on the index, its file opened
// and mapped again once its linger is over, every keepalive interval, for
// every sleeper at once in a fleet that started together. mailboxMemo
// keeps, for the sleepers of one mailbox (a subscription of the
// hibernator's table), the answers of those reads together with the
// store's stamp of the index read before them (mailstore.Stamper): while
// the stamp is unchanged, reading again would give the same answer, and
// the memo gives it without the index. A commit anywhere in the user's
// index changes the stamp and the next answer reads the index, as before.
type mailboxMemo struct {
	mu sync.Mutex
	// index is the index stamp of everything below; a different stamp
	// drops it all (at).
	index mailstore.Stamp
	// since, header and keywords are what ChangesSince(since) answered,
	// kept only when it reported nothing changed or expunged: the
	// mailbox's header alone (Changed and Expunged empty).
	since      uint64
	header     memoHeader
	keywords   []string
	hasChanges bool
	hasQuota   bool
	// recs are records read by UID (MessageReader), ascending, at most
	// maxFetchAsleep.
	recs []mailstore.Message
	// quota is the user's quota (QuotaUser.Quota, after a Status of
	// the mailbox), read with the folder stamp folders too.
	quota   mailstore.Quota
	folders mailstore.Stamp
}

// memoHeader is the header of a mailstore.Changes.
type memoHeader struct {
	uidValidity, uidNext uint32
	highestModSeq        uint64
}

// at makes stamp the memo's, dropping what was kept for another (m.mu
// held).
func (m *mailboxMemo) at(stamp mailstore.Stamp) {
	if m.index != stamp {
		m.index = stamp
		m.header, m.keywords, m.hasChanges = memoHeader{}, nil, false
		m.recs = nil
		m.quota, m.hasQuota = mailstore.Quota{}, false
	}
}

// changesSince returns ChangesSince(since) as read at stamp, if kept.
// The caller may keep the keywords it gets.
func (m *mailboxMemo) changesSince(stamp mailstore.Stamp, since uint64) (mailstore.Changes, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.index != stamp || !m.hasChanges || m.since != since {
		return mailstore.Changes{}, false
	}
	return mailstore.Changes{
		UIDValidity:   m.header.uidValidity,
		UIDNext:       m.header.uidNext,
		HighestModSeq: m.header.highestModSeq,
		Keywords:      slices.Clone(m.keywords),
	}, true
}

// keepChanges keeps ch, ChangesSince(since) read after the index stamp
// was stamp, when it reports nothing new.
func (m *mailboxMemo) keepChanges(stamp mailstore.Stamp, since uint64, ch mailstore.Changes) {
	if len(ch.Changed) > 0 || len(ch.Expunged) > 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(stamp)
	m.since, m.hasChanges = since, true
	m.header = memoHeader{ch.UIDValidity, ch.UIDNext, ch.HighestModSeq}
	m.keywords = slices.Clone(ch.Keywords)
}

// records returns the records of uids (ascending) as read at stamp, if
// every one was kept.
func (m *mailboxMemo) records(stamp mailstore.Stamp, uids []uint32) ([]mailstore.Message, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.index != stamp {
		return nil, false
	}
	out := make([]mailstore.Message, 0, len(uids))
	for _, uid := range uids {
		i, ok := slices.BinarySearchFunc(m.recs, uid, func(r mailstore.Message, uid uint32) int { return cmp.Compare(r.UID, uid) })
		if !ok {
			return nil, false
		}
		out = append(out, m.recs[i])
	}
	return out, true
}

// keepRecords keeps recs, read by UID after the index stamp was stamp;
// the callers do not change records they are given.
func (m *mailboxMemo) keepRecords(stamp mailstore.Stamp, recs []mailstore.Message) {
	if len(recs) > maxFetchAsleep {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(stamp)
	all := append(slices.Clone(m.recs), recs...)
	slices.SortStableFunc(all, func(a, b mailstore.Message) int { return cmp.Compare(a.UID, b.UID) })
	all = slices.CompactFunc(all, func(a, b mailstore.Message) bool { return a.UID == b.UID })
	if len(all) > maxFetchAsleep {
		all = slices.Clone(recs)
	}
	m.recs = all
}

// quotaOf returns the quota read at the index and folder stamps given.
func (m *mailboxMemo) quotaOf(index, folders mailstore.Stamp) (mailstore.Quota, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.index != index || !m.hasQuota || m.folders != folders {
		return mailstore.Quota{}, false
	}
	return m.quota, true
}

// keepQuota keeps q, read after the stamps were index and folders.
func (m *mailboxMemo) keepQuota(index, folders mailstore.Stamp, q mailstore.Quota) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(index)
	m.quota, m.folders, m.hasQuota = q, folders, true
}

// memoOf returns the memo of sleeper tok's mailbox, made on first use (a
// command of its client); nil with no mailbox selected, or when the
// store has no stamps.
func (h *hibernator) memoOf(tok hibernate.Token) *mailboxMemo {
	if _, ok := h.srv.cfg.Store.(mailstore.Stamper); !ok {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	info, err := h.table.Lookup(tok)
	if err != nil {
		return nil
	}
	return h.memoOfSubLocked(info.Sub, true)
}

// memoOfSubLocked returns subscription id's memo (h.mu held), made if
// create is set: a mailbox change served to sleepers that never answered a
// keepalive asleep (a phone in IDLE) makes none. nil for the sleepers
// with no mailbox selected.
func (h *hibernator) memoOfSubLocked(id hibernate.SubID, create bool) *mailboxMemo {
	if _, mailbox := h.table.Subscriptions().Key(id); mailbox == "" {
		return nil
	}
	if !create && int(id) >= len(h.memos) {
		return nil
	}
	if int(id) >= len(h.memos) {
		h.memos = append(h.memos, make([]*mailboxMemo, int(id)+1-len(h.memos))...)
	}
	if h.memos[id] == nil && create {
		h.memos[id] = new(mailboxMemo)
	}
	return h.memos[id]
}
