package maildir

import (
	"context"
	"fmt"
	"strings"

	"github.com/dormouse/dormouse/mailstore"
)

// flagCache shares one Flags slice among messages with the same flags:
// a view of 100,000 messages usually has a handful of distinct sets.
// Callers must treat Message.Flags as read-only.
type flagCache struct {
	plain  [32][]string        // by system bits, for the usual no-keyword case
	withKw map[string][]string // by system bits and keywords
}

func (fc *flagCache) get(fs flagSet) []string {
	if len(fs.keywords) == 0 {
		if l := fc.plain[fs.sys&31]; l != nil {
			return l
		}
		l := fs.list()
		fc.plain[fs.sys&31] = l
		return l
	}
	if fc.withKw == nil {
		fc.withKw = map[string][]string{}
	}
	key := string(rune(fs.sys)) + strings.Join(fs.keywords, " ")
	if l, ok := fc.withKw[key]; ok {
		return l
	}
	l := fs.list()
	fc.withKw[key] = l
	return l
}

// ClaimRecent claims \Recent for a session
// (mailstore.RecentClaimer): on SELECT and when it learns of new mail.
func (h *mailboxHandle) ClaimRecent(ctx context.Context, upTo uint32) (from, to uint32, err error) {
	if from, to, err = h.claimRecent(upTo); err != nil {
		return 0, 0, fmt.Errorf("claim recent in %s: %w", h.name, err)
	}
	return from, to, nil
}

// Snapshot returns every message of the mailbox at one MODSEQ. Views of
// the same mailbox state share one message list (sharedlist.go), and the
// Flags slices of its messages are shared between messages: read-only.
func (h *mailboxHandle) Snapshot(ctx context.Context) (mailstore.Snapshot, error) {
	var snap mailstore.Snapshot
	err := h.view(func(m *mboxTx) error {
		snap.UIDValidity = m.meta.uidValidity
		snap.UIDNext = m.meta.uidNext
		snap.HighestModSeq = m.meta.highestModSeq
		snap.Keywords = append([]string(nil), m.meta.keywords...)
		var ok bool
		if snap.Messages, ok = h.u.lookupList(m.id, m.meta); !ok {
			var err error
			if snap.Messages, err = m.messageList(); err != nil {
				return err
			}
			h.u.keepList(m.id, m.meta, snap.Messages)
		}
		return nil
	})
	if err != nil {
		return mailstore.Snapshot{}, fmt.Errorf("snapshot of %s: %w", h.name, err)
	}
	return snap, nil
}

// messageList reads the mailbox's message list: from the chunks
// (listchunk.go), or from every record when they do not show the
// mailbox as it is.
func (m *mboxTx) messageList() (mailstore.MessageList, error) {
	if msgs, ok := m.listFromChunks(); ok {
		return msgs, nil
	}
	return m.recordList()
}

// recordList reads every message record of the mailbox.
func (m *mboxTx) recordList() (mailstore.MessageList, error) {
	var b mailstore.ListBuilder
	b.Grow(int(m.meta.messages))
	fc := &flagCache{}
	c := m.msgs.Cursor()
	for k, val := c.First(); k != nil; k, val = c.Next() {
		r, err := decodeRec(beUint32(k), val, false)
		if err != nil {
			return mailstore.MessageList{}, err
		}
		b.Add(r.message(fc.get(r.flags)))
	}
	return b.List(), nil
}
