package imapserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// Thunderbird answers each keepalive of its INBOX connection with DONE,
// NOOP, GETQUOTAROOT of the folder (when the server offers QUOTA),
// `UID FETCH <uidnext>:* (FLAGS)` and, two seconds later, IDLE. The
// UID set `n:*` names the mailbox's last message even when n is above its
// UID (RFC 9051 6.4.9: "*" is the largest UID in use, and n:* is the
// range between them), so the answer needs that message's flags: one
// record read through the sleeper's change source, not a wake. This file
// answers such a flags-only UID FETCH asleep, and GETQUOTAROOT of the
// selected mailbox (one read of the user's quota).

// maxFetchAsleep is the most messages a UID FETCH answered asleep may
// name; a larger set is a client's real work, for a full wake.
const maxFetchAsleep = 16

// parseAsleep parses line, a command for a sleeper, with the same
// decoder as an awake session's commands, so that whatever it accepts
// means what it means there; false for a literal (it needs a
// continuation request) or a syntax error (a full wake answers BAD).
func parseAsleep(line []byte, en enabled) (*imapwire.Command, bool) {
	if bytes.IndexByte(line, '{') >= 0 {
		return nil, false
	}
	in := make([]byte, 0, len(line)+2)
	in = append(append(in, line...), '\r', '\n')
	// A reader the size of the line (bufio's 4 KiB default would be most
	// of a keepalive answer's garbage).
	dec := imapwire.NewDecoder(bufio.NewReaderSize(bytes.NewReader(in), len(in)), imapwire.DecoderOptions{})
	dec.SetUTF8(en.utf8)
	cmd, err := dec.ReadCommand()
	return cmd, err == nil
}

// flagsFetch returns the arguments of cmd when it is a UID FETCH that a
// sleeper can answer itself: items UID, FLAGS (required) and MODSEQ (only
// when CONDSTORE is on already: asking for MODSEQ otherwise turns it on,
// a change of session state), no modifier, no saved result "$".
func flagsFetch(cmd *imapwire.Command, en enabled) (*imapwire.FetchArgs, bool) {
	if !cmd.UID || cmd.Name != "FETCH" {
		return nil, false
	}
	a, _ := cmd.Args.(*imapwire.FetchArgs)
	if a == nil || a.ChangedSince != 0 || a.Vanished || a.PartialRange != nil || a.Set.Saved {
		return nil, false
	}
	flags := false
	for _, it := range a.Items {
		switch it.Name {
		case "UID":
		case "FLAGS":
			flags = true
		case "MODSEQ":
			if !en.condstore {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return a, flags
}

// fetchAsleep writes what an awake session in state st (its changes
// applied) writes for the flags-only UID FETCH a, before its tagged OK:
// a `* seq FETCH (UID u FLAGS (...) [MODSEQ (m)])` per message of the
// set, from the records src reads. False when that cannot be done
// exactly without the session: more than maxFetchAsleep messages, a
// store without MessageReader, or a record that changed after
// st.HighestModSeq (the awake view would still show the old flags, with
// the change pending) or is gone.
func fetchAsleep(st *hibernate.State, a *imapwire.FetchArgs, src *changeSource) ([]byte, bool) {
	uids, ok := uidsInSet(st.UIDs, a.Set, maxFetchAsleep)
	if !ok {
		return nil, false
	}
	var recs []mailstore.Message
	if len(uids) > 0 {
		var err error
		recs, err = src.messages(context.Background(), uids)
		if err != nil || len(recs) != len(uids) {
			return nil, false
		}
	}
	v, err := imapview.FromState(st)
	if err != nil {
		return nil, false
	}
	en := enabledOf(st.Enabled)
	// FETCH writes MODSEQ when asked for it, not for FLAGS alone, even
	// with CONDSTORE on (fetch.go, writeFetch): msgFetch writes it when
	// en.condstore is set.
	en.condstore = false
	for _, it := range a.Items {
		en.condstore = en.condstore || it.Name == "MODSEQ"
	}
	var buf bytes.Buffer
	bw := bufio.NewWriterSize(&buf, 256)
	e := encoder{w: imapwire.NewWriter(bw), en: en}
	for i := range recs {
		m := &recs[i]
		if m.UID != uids[i] || m.ModSeq > st.HighestModSeq {
			return nil, false
		}
		e.msgFetch(v, v.SeqOf(m.UID), m, true)
	}
	bw.Flush()
	return buf.Bytes(), true
}

// uidsInSet returns the UIDs of ranges (an asleep view's, ascending) that
// the UID set names, ascending and unique, as resolveSet does for an
// awake view (imapwire.SeqRange.Resolve). False when there are more than limit.
func uidsInSet(ranges []hibernate.UIDRange, set imapwire.SeqSet, limit int) ([]uint32, bool) {
	maxUID := uint32(0)
	if n := len(ranges); n > 0 {
		maxUID = ranges[n-1].Last
	}
	var uids []uint32
	for _, r := range set.Ranges {
		lo, hi := r.Resolve(maxUID)
		i := sort.Search(len(ranges), func(i int) bool { return ranges[i].Last >= lo })
		for ; i < len(ranges) && ranges[i].First <= hi; i++ {
			for u := max(lo, ranges[i].First); u <= min(hi, ranges[i].Last); u++ {
				if len(uids) == limit {
					return nil, false
				}
				uids = append(uids, u)
				if u == ^uint32(0) {
					break
				}
			}
		}
	}
	if len(set.Ranges) > 1 {
		slices.Sort(uids)
		uids = slices.Compact(uids)
	}
	return uids, true
}

// messages reads the records of uids (mailstore.MessageReader), from the
// memo when it holds them all for the index as it is.
func (s *changeSource) messages(ctx context.Context, uids []uint32) ([]mailstore.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stamp, stamped := s.indexStamp()
	if stamped {
		if recs, ok := s.memo.records(stamp, uids); ok {
			return recs, nil
		}
	}
	mb, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	r, ok := mb.(mailstore.MessageReader)
	if !ok {
		return nil, errors.New("the store reads no records by UID")
	}
	recs, err := r.Messages(ctx, uids)
	if err != nil {
		return nil, fmt.Errorf("records of %s: %w", s.mailbox, err)
	}
	if stamped {
		s.memo.keepRecords(stamp, recs)
	}
	return recs, nil
}

// quotaRootAsleep writes what handleGetQuotaRoot writes for the selected
// mailbox (the only one a sleeper answers for), from one read of the
// user's quota through src; false when the store cannot say.
func quotaRootAsleep(st *hibernate.State, src *changeSource) ([]byte, bool) {
	q, ok, err := src.quota(context.Background())
	if err != nil || !ok {
		return nil, false
	}
	var buf bytes.Buffer
	bw := bufio.NewWriterSize(&buf, 128)
	w := imapwire.NewWriter(bw)
	w.UTF8 = enabledOf(st.Enabled).utf8
	writeQuotaRoot(w, mailstore.CanonicalName(st.Mailbox), q)
	bw.Flush()
	return buf.Bytes(), true
}

// quota reads the user's quota, after checking that the mailbox is still
// there (handleGetQuotaRoot's Status); ok is false for a store without
// quota, which an awake session answers NO. The memo answers when it
// holds the quota for the index and the folders as they are (Quota looks
// at both).
func (s *changeSource) quota(ctx context.Context) (q mailstore.Quota, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stamp, stamped := s.indexStamp()
	var folders mailstore.Stamp
	if stamped {
		folders, stamped = s.store.(mailstore.Stamper).FolderStamp(s.user)
	}
	if stamped {
		if q, ok := s.memo.quotaOf(stamp, folders); ok {
			return q, true, nil
		}
	}
	if _, err := s.open(ctx); err != nil {
		return q, false, err
	}
	qu, ok := s.u.(mailstore.QuotaUser)
	if !ok {
		return q, false, nil
	}
	if _, err := s.u.Status(ctx, s.mailbox); err != nil {
		return q, false, err
	}
	if q, err = qu.Quota(ctx); err != nil {
		return q, false, err
	}
	if stamped {
		s.memo.keepQuota(stamp, folders, q)
	}
	return q, true, nil
}
