package imapserver

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// handleSearch serves SEARCH and UID SEARCH (RFC 9051 6.4.4) with ESEARCH
// (RFC 4731), SEARCHRES (RFC 5182), MODSEQ (RFC 7162 3.1.5) and
// CONTEXT=SEARCH's UPDATE (RFC 5267 4.3, context.go).
func handleSearch(c *conn, cmd *imapwire.Command) (err error) {
	a, _ := cmd.Args.(*imapwire.SearchArgs)
	if a == nil || a.Key == nil {
		return errBAD("", "Missing search criteria")
	}
	ret, err := parseReturn(a.Return, a.Partial)
	if err != nil {
		return err
	}
	retMin, retMax, retAll, retCount, retSave := ret.min, ret.max, ret.all, ret.count, ret.save
	esearch := a.Return != nil || c.enabled.rev2
	if err := c.checkContextTag(cmd, ret); err != nil {
		return err
	}

	res, err := c.searchView(a.Charset, a.Key)
	if err != nil {
		return err
	}
	v := c.sel.view
	hits, maxModSeq := res.hits, res.maxModSeq
	if ret.update {
		defer func() {
			if err == nil {
				err = c.startContext(cmd, a.Key, nil, hits)
			}
		}()
	}

	nums := hits
	if cmd.UID {
		nums = v.UIDsOf(hits)
	}
	if retSave {
		c.saveReturned(hits, ret)
		// RFC 5182 2.1: SAVE alone sends no ESEARCH response.
		if !retMin && !retMax && !retAll && !retCount && ret.partial == nil {
			return nil
		}
	}
	w := c.w
	if !esearch {
		w.Raw("* SEARCH")
		for _, n := range nums {
			w.SP().Number32(n)
		}
		if res.usesModSeq && len(nums) > 0 {
			w.Raw(" (MODSEQ ").Number(maxModSeq).Raw(")")
		}
		w.CRLF()
		return nil
	}
	if a.Return == nil {
		retAll = true // IMAP4rev2 SEARCH answers ESEARCH ALL (RFC 9051 6.4.4)
	}
	w.Raw(`* ESEARCH (TAG `).String(cmd.Tag).Raw(")")
	if cmd.UID {
		w.Raw(" UID")
	}
	if len(nums) > 0 {
		if retMin {
			w.Raw(" MIN ").Number32(slices.Min(nums))
		}
		if retMax {
			w.Raw(" MAX ").Number32(slices.Max(nums))
		}
		if retAll {
			w.Raw(" ALL ").Raw(imapwire.FormatUIDSet(nums))
		}
	}
	writePartialResult(w, ret.partial, nums)
	if retCount {
		w.Raw(" COUNT ").Number(uint64(len(nums)))
	}
	if res.usesModSeq && len(nums) > 0 {
		if !retAll && !retCount {
			// RFC 7162 3.1.5: with only MIN, MAX and PARTIAL, the
			// MODSEQ is the highest of the messages returned, not of
			// every match.
			maxModSeq = 0
			for _, seq := range ret.returned(hits) {
				maxModSeq = max(maxModSeq, v.Messages.ModSeq(int(seq-1)))
			}
		}
		if maxModSeq > 0 {
			w.Raw(" MODSEQ ").Number(maxModSeq)
		}
	}
	w.CRLF()
	return nil
}

// returnOptions are the RETURN options of SEARCH (RFC 4731 3.1) and
// SORT (RFC 5267 3.1), with PARTIAL's range (RFC 9394 3.1) when given.
type returnOptions struct {
	min, max, all, count, save bool
	// update asks for a live context (RFC 5267 4.3); CONTEXT, a hint
	// (4.2), is accepted and changes nothing.
	update  bool
	partial *imapwire.PartialRange
}

// parseReturn reads the RETURN options; "RETURN ()" means ALL, and so do
// options that return no result themselves (UPDATE, CONTEXT): a client
// keeping a result up to date needs it first. At most one of PARTIAL and
// ALL may be given (RFC 9394 3.1).
func parseReturn(opts []string, partial *imapwire.PartialRange) (returnOptions, error) {
	var r returnOptions
	wholes := 0
	for _, o := range opts {
		switch o {
		case "MIN":
			r.min = true
		case "MAX":
			r.max = true
		case "ALL":
			r.all = true
			wholes++
		case "COUNT":
			r.count = true
		case "SAVE":
			r.save = true
		case "UPDATE":
			r.update = true
		case "CONTEXT":
		case "PARTIAL":
			if partial == nil {
				return r, errBAD("", "PARTIAL needs a range")
			}
			r.partial = partial
			wholes++
		default:
			return r, errBAD("", "Unknown RETURN option "+o)
		}
	}
	if wholes > 1 {
		return r, errBAD("", "At most one of PARTIAL and ALL")
	}
	if opts != nil && !r.min && !r.max && !r.count && !r.save && r.partial == nil {
		r.all = true
	}
	return r, nil
}

// saveResult keeps a search result for "$" (RFC 5182 2.1): of the
// messages found (sequence numbers, in the order the command returns
// them, so that first and last are MIN and MAX: ascending for SEARCH, the
// sort order for SORT, RFC 5267 3.1), all of them, or with only MIN
// and/or MAX beside SAVE, only those. The saved UIDs are ascending.
func (c *conn) saveResult(order []uint32, retMin, retMax, whole bool) {
	v := c.sel.view
	var save []uint32
	switch {
	case len(order) == 0:
		save = []uint32{}
	case whole || !retMin && !retMax:
		save = v.UIDsOf(order)
	default:
		if retMin {
			save = append(save, v.Messages.UID(int(order[0]-1)))
		}
		if retMax && (!retMin || len(order) > 1) {
			save = append(save, v.Messages.UID(int(order[len(order)-1]-1)))
		}
	}
	slices.Sort(save)
	c.sel.view.Saved = slices.Compact(save)
}

// searchResult is what searchView found.
type searchResult struct {
	hits       []uint32 // sequence numbers of the matching messages, ascending
	maxModSeq  uint64   // the highest mod-sequence among them
	usesModSeq bool     // the key had MODSEQ (RFC 7162 3.1.5)
}

// searchView checks charset and evaluates key against every message of
// the selected view: the search-program of SEARCH, SORT and THREAD. It
// stops when the client leaves (conn.interrupted).
func (c *conn) searchView(charset string, key *imapwire.SearchKey) (searchResult, error) {
	switch charset {
	case "", "UTF-8", "US-ASCII":
	default:
		// RFC 9051 6.4.4: an unknown charset lists what is supported.
		return searchResult{}, errNO("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
	}
	s := searcher{c: c, now: time.Now(), interrupted: c.interrupted}
	if err := s.prepare(key); err != nil {
		return searchResult{}, err
	}
	if s.usesModSeq {
		c.enableCondstore()
	}
	if s.needsContent && !s.needsFile {
		s.envelopes = newEnvelopeReader(c, nil)
		if s.envelopes != nil {
			// A whole mailbox is walked in order: large chunks, as
			// SORT asks (still within envelopeChunkBytes).
			s.envelopes.limit = sortEnvelopeChunk
		}
	}
	res := searchResult{usesModSeq: s.usesModSeq}
	v := c.sel.view
	if isAll(key) {
		// SORT and THREAD of a whole mailbox, as webmail asks them.
		res.hits = make([]uint32, v.Messages.Len())
		for i := range v.Messages.Len() {
			res.hits[i] = uint32(i + 1)
			res.maxModSeq = max(res.maxModSeq, v.Messages.ModSeq(i))
		}
		return res, nil
	}
	mask, err := s.candidates(key)
	if err != nil {
		return searchResult{}, err
	}
	if s.needsFile && s.text.readsBody() {
		if ok, err := s.matchParallel(key, mask); ok != nil || err != nil {
			if err != nil {
				return searchResult{}, err
			}
			for i, hit := range ok {
				if hit {
					res.hits = append(res.hits, uint32(i+1))
					res.maxModSeq = max(res.maxModSeq, v.Messages.ModSeq(i))
				}
			}
			return res, nil
		}
	}
	for i := range v.Messages.Len() {
		if s.needsContent || i%metadataSearchStep == 0 {
			if err := c.interrupted(); err != nil {
				return searchResult{}, err
			}
		}
		if s.needsFile && i%searchBlock == 0 {
			s.lookUp(mask, i, min(i+searchBlock, v.Messages.Len()))
		}
		if mask != nil && !mask[i] {
			continue // the search index says it cannot match (searchfts.go)
		}
		seq := uint32(i + 1)
		ok, err := s.match(seq, key)
		s.release()
		if err != nil {
			if errors.Is(err, mailstore.ErrNoMessage) {
				continue
			}
			return searchResult{}, storeError(fmt.Errorf("search: %w", err))
		}
		if ok {
			res.hits = append(res.hits, seq)
			res.maxModSeq = max(res.maxModSeq, v.Messages.ModSeq(i))
		}
	}
	return res, nil
}

// metadataSearchStep is how many messages a search that reads no message
// content (flags, dates, sizes, UIDs) matches between two looks at
// conn.interrupted: each message takes nanoseconds, the look (a lock, the
// clock) more than that, and 1,024 messages well under a millisecond.
const metadataSearchStep = 1024

// isAll says whether k matches every message: ALL, or an AND of keys
// that each do.
func isAll(k *imapwire.SearchKey) bool {
	switch k.Op {
	case "ALL":
		return true
	case "AND":
		for _, ch := range k.Children {
			if !isAll(ch) {
				return false
			}
		}
		return len(k.Children) > 0
	}
	return false
}

// searcher evaluates a search key against the view's messages, opening a
// message's content only when a key needs it.
type searcher struct {
	c   *conn
	now time.Time
	// interrupted says whether the command is to stop: c.interrupted,
	// or for a searcher of matchParallel what it sets (such a searcher
	// must not touch the connection).
	interrupted  func() error
	usesModSeq   bool
	needsContent bool
	// needsFile is set when a key reads more than the envelope header
	// fields (BODY, TEXT, HEADER of another field): those open the
	// message; the others are answered from the store's EnvelopeCache.
	needsFile bool
	// needsDate is set when a key reads the Date field (SENTBEFORE,
	// SENTON, SENTSINCE): a message read whole has its envelope parsed
	// then, else not (readWhole).
	needsDate bool
	sets      map[*imapwire.SearchKey][]uint32 // resolved SEQSET / UID keys (sequence numbers)
	// emailIDs are the EMAILIDs of the view's messages, by sequence
	// number - 1, read once for SEARCH EMAILID (RFC 8474 6);
	// threadIDs their THREADIDs for SEARCH THREADID.
	emailIDs  []string
	threadIDs []string

	// envelopes answers the header keys when no key needs the file.
	envelopes *envelopeReader

	// per message, set by load and headerBlock
	content mailstore.Content
	msg     *imapmsg.Message
	block   []byte   // the envelope header block, unparsed
	text    textKeys // limits and per-message answers of text keys
	// blockUIDs are the messages a searcher of matchParallel checks
	// now, looked up together in files.
	blockUIDs []uint32
	files     openBlock
	// allCores lets the check use every core though a background index
	// build runs: this is the first search of the mailbox it builds
	// (searchBuilder.claim).
	allCores bool
	// whole holds the message being checked, read whole when BODY or
	// TEXT will read its body (readWhole), reused from one message to
	// the next.
	whole []byte
}

// prepare checks the key tree and resolves its sets once.
func (s *searcher) prepare(k *imapwire.SearchKey) error {
	if err := s.text.count(k); err != nil {
		return err
	}
	switch k.Op {
	case "SEQSET", "UID":
		if k.Set == nil {
			return errBAD("", "Missing set")
		}
		seqs := s.c.searchSet(*k.Set, k.Op == "UID")
		if s.sets == nil {
			s.sets = make(map[*imapwire.SearchKey][]uint32)
		}
		s.sets[k] = seqs
	case "MODSEQ":
		s.usesModSeq = true
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		s.needsContent = true
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		s.needsContent, s.needsDate = true, true
	case "HEADER":
		s.needsContent = true
		s.needsFile = s.needsFile || !imapmsg.IsEnvelopeField(k.Field)
	case "BODY", "TEXT":
		s.needsContent, s.needsFile = true, true
	case "THREADID":
		if s.threadIDs == nil {
			seqs := make([]uint32, s.c.sel.view.Messages.Len())
			for i := range seqs {
				seqs[i] = uint32(i + 1)
			}
			ids, err := s.c.threadIDs(seqs)
			if err != nil {
				return err
			}
			s.threadIDs = ids
		}
	case "EMAILID":
		if s.emailIDs == nil {
			ids, err := s.c.viewEmailIDs()
			if err != nil {
				return storeError(fmt.Errorf("search: %w", err))
			}
			s.emailIDs = ids
		}
	}
	for _, ch := range k.Children {
		if err := s.prepare(ch); err != nil {
			return err
		}
	}
	return nil
}

func (s *searcher) release() {
	if s.content != nil {
		s.content.Close()
		s.content = nil
	}
	s.msg, s.block = nil, nil
	s.text.reset()
}

// headerBlock returns the envelope header block of the message at seq,
// unparsed, from the store's envelope cache (s.envelopes is set).
func (s *searcher) headerBlock(seq uint32) ([]byte, error) {
	if s.block == nil {
		b, err := s.envelopes.block(int(seq - 1))
		if err != nil {
			return nil, err
		}
		s.block = b
	}
	return s.block, nil
}

// load parses the header of the message at seq for text keys: from the
// store's envelope cache when the keys need no more, else from its file.
func (s *searcher) load(seq uint32) (*imapmsg.Message, error) {
	if s.msg != nil {
		return s.msg, nil
	}
	if s.envelopes != nil {
		msg, err := s.envelopes.message(int(seq - 1))
		s.msg = msg
		return msg, err
	}
	rec := s.c.sel.view.Messages.At(int(seq - 1))
	m := &rec
	content, err := s.open(m.UID)
	if err != nil {
		return nil, err
	}
	if s.text.readsBody() && content.Size() <= maxWholeSearch {
		msg, err := s.readWhole(content)
		content.Close()
		if err != nil {
			return nil, fmt.Errorf("read uid %d: %w", m.UID, err)
		}
		s.msg = msg
		return msg, nil
	}
	// Most text keys need the header alone; BODY and TEXT parse the rest
	// when they get to it. Reads stop when the command is interrupted.
	msg, err := imapmsg.ParseHeader(interruptibleReaderAt{content, s.interrupted}, content.Size())
	if err != nil {
		content.Close()
		return nil, fmt.Errorf("parse uid %d: %w", m.UID, err)
	}
	s.content, s.msg = content, msg
	return msg, nil
}

func (s *searcher) match(seq uint32, k *imapwire.SearchKey) (bool, error) {
	v := s.c.sel.view
	rec := v.Messages.At(int(seq - 1))
	m := &rec
	switch k.Op {
	case "AND":
		for _, ch := range k.Children {
			ok, err := s.match(seq, ch)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case "OR":
		if len(k.Children) != 2 {
			return false, errBAD("", "OR needs two keys")
		}
		ok, err := s.match(seq, k.Children[0])
		if err != nil || ok {
			return ok, err
		}
		return s.match(seq, k.Children[1])
	case "NOT":
		if len(k.Children) != 1 {
			return false, errBAD("", "NOT needs one key")
		}
		ok, err := s.match(seq, k.Children[0])
		return !ok, err
	case "EMAILID":
		// objectids are case-sensitive (RFC 8474 7).
		return int(seq) <= len(s.emailIDs) && s.emailIDs[seq-1] == k.Value, nil
	case "THREADID":
		return int(seq) <= len(s.threadIDs) && s.threadIDs[seq-1] == k.Value, nil
	case "SEQSET", "UID":
		_, ok := slices.BinarySearch(s.sets[k], seq)
		return ok, nil
	case "OLDER":
		// RFC 5032 3: older than the interval, strictly; YOUNGER is
		// "within" it, its bound included.
		return s.now.Sub(m.InternalDate.Time()) > time.Duration(k.Number)*time.Second, nil
	case "YOUNGER":
		return s.now.Sub(m.InternalDate.Time()) <= time.Duration(k.Number)*time.Second, nil
	}
	if ok, known := imapview.MatchRecord(k, m, v.IsRecent(m.UID)); known {
		return ok, nil
	}

	// Keys on the message's content. Header keys read the envelope
	// block as it is kept, when the store keeps them: parsing it into a
	// Message per message was most of a SEARCH FROM's time.
	if s.envelopes != nil && isHeaderKey(k.Op) {
		block, err := s.headerBlock(seq)
		if err != nil {
			return false, err
		}
		return s.text.matchHeader(block, k), nil
	}
	msg, err := s.load(seq)
	if err != nil {
		return false, err
	}
	switch k.Op {
	case "BCC", "CC", "FROM", "SUBJECT", "TO", "HEADER", "BODY", "TEXT":
		return s.text.match(msg, k), nil
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		d := msg.Date()
		if d.IsZero() {
			// No usable Date: header: the INTERNALDATE stands in for
			// it, as in Dovecot, so that such a message is found by
			// some date rather than by none.
			d = m.InternalDate.Time()
		}
		day := imapview.Day(d)
		switch k.Op {
		case "SENTBEFORE":
			return day.Before(k.Date), nil
		case "SENTON":
			return day.Equal(k.Date), nil
		}
		return !day.Before(k.Date), nil
	}
	return false, errBAD("", "Unsupported search key "+k.Op)
}
