package imapserver

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// sortCaps are the capabilities of SORT and THREAD, advertised with the
// others (capability.go): SORT and THREAD (RFC 5256), ESORT (RFC 5267 3),
// SORT=DISPLAY (RFC 5957), THREAD=REFS (Dovecot's, from
// draft-ietf-morg-inthread) and I18NLEVEL=1 (RFC 5255 4: SORT compares
// with i;unicode-casemap, imapmsg.Casemap).
const sortCaps = "SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS I18NLEVEL=1"

// handleSort serves SORT and UID SORT (RFC 5256 3) with ESORT's RETURN
// options (RFC 5267 3.1), SORT=DISPLAY's keys (RFC 5957), SEARCHRES's
// SAVE (RFC 5182) and MODSEQ (RFC 7162 3.1.5). The messages are chosen by
// the same search as SEARCH; their keys come from the store's envelope
// cache (envelopeReader), not from their files.
func handleSort(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.SortArgs)
	if a == nil || a.Key == nil || len(a.Criteria) == 0 {
		return errBAD("", "Missing sort criteria")
	}
	ret, err := parseReturn(a.Return)
	if err != nil {
		return err
	}
	res, err := c.searchView(a.Charset, a.Key)
	if err != nil {
		return err
	}
	order, err := c.sortMessages(res.hits, a.Criteria)
	if err != nil {
		return err
	}
	nums := order
	if cmd.UID {
		nums = uidsOf(c.sel.view, order)
	}
	if ret.save {
		c.saveResult(order, ret.min, ret.max, ret.all || ret.count)
		if !ret.min && !ret.max && !ret.all && !ret.count {
			return nil
		}
	}
	w := c.w
	if a.Return == nil {
		w.Raw("* SORT")
		for _, n := range nums {
			w.SP().Number32(n)
		}
		if res.usesModSeq && len(nums) > 0 {
			w.Raw(" (MODSEQ ").Number(res.maxModSeq).Raw(")")
		}
		w.CRLF()
		return nil
	}
	// RFC 5267 3.1: MIN and MAX are the first and last in the sort order,
	// ALL lists the messages in that order.
	w.Raw(`* ESEARCH (TAG `).String(cmd.Tag).Raw(")")
	if cmd.UID {
		w.Raw(" UID")
	}
	if len(nums) > 0 {
		if ret.min {
			w.Raw(" MIN ").Number32(nums[0])
		}
		if ret.max {
			w.Raw(" MAX ").Number32(nums[len(nums)-1])
		}
		if ret.all {
			w.Raw(" ALL ").Raw(imapwire.FormatUIDSet(nums))
		}
	}
	if ret.count {
		w.Raw(" COUNT ").Number(uint64(len(nums)))
	}
	if res.usesModSeq && len(nums) > 0 {
		w.Raw(" MODSEQ ").Number(res.maxModSeq)
	}
	w.CRLF()
	return nil
}

// sortEntry is one message's values for the sort keys of a command.
// Strings are in i;unicode-casemap canonical form (imapmsg.Casemap), so
// that they compare as octets.
type sortEntry struct {
	seq              uint32
	date             int64 // sent date, Unix nanoseconds
	arrival, size    int64
	subject          string
	from, to, cc     string
	dispFrom, dispTo string
}

// sortMessages returns seqs ordered by criteria (RFC 5256 3): each key in
// turn, REVERSE reversing its order, and the sequence number last, which
// REVERSE does not change.
func (c *conn) sortMessages(seqs []uint32, criteria []imapwire.SortCriterion) ([]uint32, error) {
	needHeader := false
	for _, k := range criteria {
		if k.Key != "ARRIVAL" && k.Key != "SIZE" {
			needHeader = true
		}
	}
	v := c.sel.view
	entries := make([]sortEntry, len(seqs))
	headers := newHeaderSource(c, seqs)
	for i, seq := range seqs {
		if err := c.interrupted(); err != nil {
			return nil, err
		}
		m := &v.Messages[seq-1]
		e := &entries[i]
		e.seq, e.arrival, e.size = seq, int64(m.InternalDate), m.Size
		e.date = e.arrival
		if !needHeader {
			continue
		}
		msg, err := headers.header(i)
		if err != nil {
			return nil, err
		}
		if msg == nil {
			continue // gone from the store: empty keys
		}
		for _, k := range criteria {
			e.fill(k.Key, msg)
		}
	}
	slices.SortFunc(entries, func(x, y sortEntry) int {
		for _, k := range criteria {
			d := x.compare(&y, k.Key)
			if k.Reverse {
				d = -d
			}
			if d != 0 {
				return d
			}
		}
		return cmp.Compare(x.seq, y.seq)
	})
	out := make([]uint32, len(entries))
	for i := range entries {
		out[i] = entries[i].seq
	}
	return out, nil
}

// fill sets e's value for key from the message's header.
func (e *sortEntry) fill(key string, msg *imapmsg.Message) {
	switch key {
	case "DATE":
		// RFC 5256 3: without a usable Date, the INTERNALDATE is the sent
		// date (e.date starts as it).
		if d := msg.Date(); !d.IsZero() {
			e.date = d.UnixNano()
		}
	case "SUBJECT":
		base, _ := imapmsg.BaseSubject(msg.Subject())
		e.subject = imapmsg.Casemap(base)
	case "FROM", "DISPLAYFROM":
		a, _ := msg.FirstAddress("From")
		e.from, e.dispFrom = imapmsg.Casemap(a.Mailbox), imapmsg.Casemap(a.Display)
	case "TO", "DISPLAYTO":
		a, _ := msg.FirstAddress("To")
		e.to, e.dispTo = imapmsg.Casemap(a.Mailbox), imapmsg.Casemap(a.Display)
	case "CC":
		a, _ := msg.FirstAddress("Cc")
		e.cc = imapmsg.Casemap(a.Mailbox)
	}
}

// compare orders x and y by one key, ascending. A missing field sorts as
// the empty string, first (RFC 5256 3).
func (x *sortEntry) compare(y *sortEntry, key string) int {
	switch key {
	case "ARRIVAL":
		return cmp.Compare(x.arrival, y.arrival)
	case "SIZE":
		return cmp.Compare(x.size, y.size)
	case "DATE":
		return cmp.Compare(x.date, y.date)
	case "SUBJECT":
		return cmp.Compare(x.subject, y.subject)
	case "FROM":
		return cmp.Compare(x.from, y.from)
	case "TO":
		return cmp.Compare(x.to, y.to)
	case "CC":
		return cmp.Compare(x.cc, y.cc)
	case "DISPLAYFROM":
		return cmp.Compare(x.dispFrom, y.dispFrom)
	case "DISPLAYTO":
		return cmp.Compare(x.dispTo, y.dispTo)
	}
	return 0
}

// headerSource gives SORT and THREAD the parsed envelope header of
// messages, in the order they walk them: from the store's envelope cache
// (envelopeReader), or from the message files of a store that keeps
// none.
type headerSource struct {
	c    *conn
	seqs []uint32
	env  *envelopeReader
}

func newHeaderSource(c *conn, seqs []uint32) *headerSource {
	return &headerSource{c: c, seqs: seqs, env: newEnvelopeReader(c, seqs)}
}

// header returns the header of the i-th message, nil for one gone from
// the store.
func (h *headerSource) header(i int) (*imapmsg.Message, error) {
	var msg *imapmsg.Message
	var err error
	if h.env != nil {
		msg, err = h.env.message(i)
	} else {
		msg, err = h.fromFile(h.seqs[i])
	}
	if errors.Is(err, mailstore.ErrNoMessage) {
		return nil, nil
	}
	if err != nil {
		return nil, storeError(fmt.Errorf("sort keys: %w", err))
	}
	return msg, nil
}

// fromFile parses the top-level header of the message at seq from its
// file. ParseHeader reads the header at once, so the file is closed
// before the message's header is used.
func (h *headerSource) fromFile(seq uint32) (*imapmsg.Message, error) {
	uid := h.c.sel.view.Messages[seq-1].UID
	content, err := h.c.sel.mbox.Open(h.c.ctx, uid)
	if err != nil {
		return nil, err
	}
	defer content.Close()
	msg, err := imapmsg.ParseHeader(interruptibleReaderAt{content, h.c}, content.Size())
	if err != nil {
		return nil, fmt.Errorf("parse uid %d: %w", uid, err)
	}
	return msg, nil
}
