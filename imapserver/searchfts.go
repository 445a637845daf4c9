package imapserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/searchindex"
)

// SEARCH BODY and TEXT through the mailbox's trigram index (package
// searchindex): before the matcher reads any message, the index gives
// the messages that can match, and the matcher reads only those. The
// index is brought up to date here, lazily, by the first BODY or TEXT
// search that finds messages it does not cover: every way a message
// enters a mailbox (APPEND, LMTP delivery, COPY, MOVE, a file another
// program wrote into the Maildir, a rescan) gives it a UID in the view,
// and the view's UIDs are what the index is compared with, so no path
// can be forgotten and delivery pays nothing. A message the index does
// not cover (unreadable while indexing, or indexing failed) stays a
// candidate of every needle; any failure of the index falls back to
// reading every message.

// candidates returns, per message of the view (by sequence number - 1),
// whether it can match key, or nil when every message can (no BODY or
// TEXT key narrows, or there is no index).
func (s *searcher) candidates(key *imapwire.SearchKey) ([]bool, error) {
	c := s.c
	home, ok := c.sel.mbox.(mailstore.SearchIndexHome)
	if !ok || c.srv.cfg.NoSearchIndex || !narrows(key) {
		return nil, nil
	}
	v := c.sel.view
	ix, err := searchindex.Open(home.SearchIndexDir(), c.sel.mbox.UIDValidity(), c.log)
	if err != nil {
		c.log.Warn("search index unusable, searching every message", "err", err)
		return nil, nil
	}
	defer ix.Close()
	uids := slices.AppendSeq(make([]uint32, 0, v.Len()), v.Messages.UIDs())
	missing := ix.Missing(uids)
	if len(missing) > 0 {
		// A search confined to a few messages (UID 1000:* BODY x) reads
		// them rather than index a mailbox that has no index yet.
		sets := candidateSet{s: s, uids: uids}
		within, _ := sets.of(key)
		if within != nil && count(within) < len(missing) {
			return within, nil
		}
	}
	inHand := false
	if len(missing) > 0 {
		inHand, s.allCores = c.srv.searchBuild.claim(home.SearchIndexDir())
	}
	if !inHand {
		// (With a background build on it, what it has not indexed yet,
		// missing, is read instead: searchbuild.go.)
		missing, err = s.indexMissing(ix, uids, missing)
	}
	if err != nil {
		if c.interrupted() != nil {
			return nil, err
		}
		c.log.Warn("search index not brought up to date", "err", err)
	}
	n := candidateSet{ix: ix, s: s, uids: uids, missing: missing}
	mask, err := n.of(key)
	if err != nil {
		if c.interrupted() != nil {
			return nil, err
		}
		c.log.Warn("search index unusable, searching every message", "err", err)
		return nil, nil
	}
	return mask, nil
}

// narrows says whether key has a BODY or TEXT key that the index can
// narrow: one not under NOT.
func narrows(k *imapwire.SearchKey) bool {
	switch k.Op {
	case "BODY", "TEXT":
		return len(imapmsg.FoldSearchString(k.Value)) >= 3
	case "AND", "OR":
		return slices.ContainsFunc(k.Children, narrows)
	}
	return false
}

// count returns how many of mask are true.
func count(mask []bool) int {
	n := 0
	for _, ok := range mask {
		if ok {
			n++
		}
	}
	return n
}

// indexMissing indexes missing, the messages of uids (ascending, the
// view's) the index does not cover, and returns those it could not.
func (s *searcher) indexMissing(ix *searchindex.Index, uids, missing []uint32) ([]uint32, error) {
	c := s.c
	return indexMessages(c.ctx, c.sel.mbox, ix, uids, missing, searchindex.NewBuilder(), c.log, c.interrupted)
}

// indexMessages indexes missing, the messages of mbox among uids
// (ascending) that ix does not cover, and returns those it could not.
// b collects each segment (its limit is the memory the build takes).
// stop is asked between messages whether to end; what was indexed until
// then is kept.
func indexMessages(ctx context.Context, mbox mailstore.Mailbox, ix *searchindex.Index, uids, missing []uint32, b *searchindex.Builder, log *slog.Logger, stop func() error) ([]uint32, error) {
	if len(missing) == 0 {
		return nil, nil
	}
	// live keeps, at merges, the UIDs of the view and any above it (added
	// since); below the view's last UID, one not in it was expunged.
	live := func(uid uint32) bool {
		_, ok := slices.BinarySearch(uids, uid)
		return ok || uid > uids[len(uids)-1]
	}
	// Batches are written as they fill and merged once at the end, so
	// that a large build rewrites each posting once.
	var skipped []uint32
	write := func() error {
		err := ix.Add(b)
		b.Reset()
		return err
	}
	finish := func() error {
		if err := write(); err != nil {
			return err
		}
		return ix.Compact(live)
	}
	var block openBlock
	for i, uid := range missing {
		if err := stop(); err != nil {
			// Kept unmerged: merging what a large build wrote can take
			// long, and a stop (server shutdown, a client's interruption)
			// must not wait for it. The next build's merge takes these
			// small segments in (Compact).
			if werr := write(); werr != nil {
				log.Warn("search index: keeping what was indexed", "err", werr)
			}
			return nil, err
		}
		if i%indexOpenBlock == 0 {
			block.lookUp(ctx, mbox, missing[i:min(i+indexOpenBlock, len(missing))])
		}
		content, err := block.open(ctx, mbox, uid)
		if err == nil {
			err = indexOne(content, b, uid)
		}
		if err != nil {
			if !errors.Is(err, mailstore.ErrNoMessage) {
				log.Info("search index: message not indexed", "uid", uid, "err", err)
			}
			skipped = append(skipped, uid)
			continue
		}
		if b.Full() {
			if err := write(); err != nil {
				return missing, err
			}
		}
	}
	if err := finish(); err != nil {
		return missing, err
	}
	return skipped, nil
}

// indexOne adds message uid, whose content is open, to b, and closes it.
func indexOne(content mailstore.Content, b *searchindex.Builder, uid uint32) error {
	defer content.Close()
	msg, err := imapmsg.ParseHeader(content, content.Size())
	if err != nil {
		return fmt.Errorf("parse uid %d: %w", uid, err)
	}
	return b.Add(uid, msg.SearchTexts)
}

// candidateSet works out, for a key tree, the messages that can match
// it: a superset of those that do. Without an index it narrows by the
// sequence sets and UID sets alone.
type candidateSet struct {
	ix      *searchindex.Index // nil: BODY and TEXT narrow nothing
	s       *searcher
	uids    []uint32 // the view's, ascending
	missing []uint32 // not covered by the index: candidates of every key
}

// of returns the mask of key's candidates, nil meaning every message.
func (n *candidateSet) of(k *imapwire.SearchKey) ([]bool, error) {
	switch k.Op {
	case "BODY", "TEXT":
		if n.ix == nil {
			return nil, nil
		}
		return n.needle(k.Value)
	case "SEQSET", "UID":
		mask := make([]bool, len(n.uids))
		for _, seq := range n.s.sets[k] {
			if seq >= 1 && int(seq) <= len(mask) {
				mask[seq-1] = true
			}
		}
		return mask, nil
	case "AND":
		var mask []bool
		for _, ch := range k.Children {
			m, err := n.of(ch)
			if err != nil {
				return nil, err
			}
			switch {
			case m == nil:
			case mask == nil:
				mask = m
			default:
				for i := range mask {
					mask[i] = mask[i] && m[i]
				}
			}
		}
		return mask, nil
	case "OR":
		var mask []bool
		for i, ch := range k.Children {
			m, err := n.of(ch)
			if err != nil || m == nil {
				return nil, err
			}
			if i == 0 {
				mask = m
				continue
			}
			for j := range mask {
				mask[j] = mask[j] || m[j]
			}
		}
		return mask, nil
	}
	// NOT, and every key the index knows nothing of.
	return nil, nil
}

// needle returns the mask of the messages whose texts may hold s.
func (n *candidateSet) needle(s string) ([]bool, error) {
	found, all, err := n.ix.Candidates(n.s.c.ctx, imapmsg.FoldSearchString(s))
	if err != nil || all {
		return nil, err
	}
	mask := make([]bool, len(n.uids))
	mark := func(list []uint32) {
		j := 0
		for _, u := range list {
			k, ok := slices.BinarySearch(n.uids[j:], u)
			j += k
			if ok {
				mask[j] = true
			}
		}
	}
	mark(found)
	mark(n.missing)
	return mask, nil
}
