package imapserver

import (
	"github.com/dormouse/dormouse/imapwire"
)

// sortCaps are the capabilities of SORT and THREAD, advertised with the
// others (capability.go): SORT and THREAD (RFC 5256), ESORT (RFC 5267 3),
// SORT=DISPLAY (RFC 5957), THREAD=REFS (Dovecot's, from
// draft-ietf-morg-inthread) and I18NLEVEL=1 (RFC 5255 4: SORT compares
// with i;unicode-casemap, imapmsg.Casemap).
const sortCaps = "SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS I18NLEVEL=1"

// handleSort serves SORT and UID SORT (RFC 5256 3) with ESORT's RETURN
// options (RFC 5267 3.1), SORT=DISPLAY's keys (RFC 5957), SEARCHRES's
// SAVE (RFC 5182), MODSEQ (RFC 7162 3.1.5) and CONTEXT=SORT's UPDATE
// (RFC 5267 4.3, context.go). The messages are chosen by
// the same search as SEARCH; their keys come from their sort records
// (sortrec.go), not from their files.
func handleSort(c *conn, cmd *imapwire.Command) (err error) {
	a, _ := cmd.Args.(*imapwire.SortArgs)
	if a == nil || a.Key == nil || len(a.Criteria) == 0 {
		return errBAD("", "Missing sort criteria")
	}
	ret, err := parseReturn(a.Return, a.Partial)
	if err != nil {
		return err
	}
	if err := c.checkContextTag(cmd, ret); err != nil {
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
	if ret.update {
		// RFC 5267 4.3: CONTEXT=SORT keeps the result in the sort order.
		defer func() {
			if err == nil {
				err = c.startContext(cmd, a.Key, a.Criteria, order)
			}
		}()
	}
	nums := order
	if cmd.UID {
		nums = c.sel.view.UIDsOf(order)
	}
	if ret.save {
		c.saveReturned(order, ret)
		if !ret.min && !ret.max && !ret.all && !ret.count && ret.partial == nil {
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
	// RFC 5267 4.4, RFC 9394 3.1: the range counts in the sort order.
	writePartialResult(w, ret.partial, nums)
	if ret.count {
		w.Raw(" COUNT ").Number(uint64(len(nums)))
	}
	if res.usesModSeq && len(nums) > 0 {
		w.Raw(" MODSEQ ").Number(res.maxModSeq)
	}
	w.CRLF()
	return nil
}

// recField is the sort record's field for a string key.
func recField(key string) (int, bool) {
	switch key {
	case "SUBJECT":
		return recSubject, true
	case "FROM":
		return recFrom, true
	case "DISPLAYFROM":
		return recDisplayFrom, true
	case "TO":
		return recTo, true
	case "DISPLAYTO":
		return recDisplayTo, true
	case "CC":
		return recCc, true
	}
	return 0, false
}

// sortMessages returns seqs (ascending) ordered by criteria (RFC 5256 3):
// each key in turn, REVERSE reversing its order, and the sequence number
// last, which REVERSE does not change. A missing field is the empty
// string and sorts first; a message without a usable Date sorts by its
// INTERNALDATE (RFC 5256 2.2).
func (c *conn) sortMessages(seqs []uint32, criteria []imapwire.SortCriterion) ([]uint32, error) {
	v := c.sel.view
	cols := make([]sortColumn, len(criteria))
	needRecs := false
	for j, k := range criteria {
		col := &cols[j]
		col.reverse = k.Reverse
		switch k.Key {
		case "ARRIVAL", "SIZE", "DATE":
			col.ints = make([]int64, len(seqs))
			for i, seq := range seqs {
				rec := v.Messages.At(int(seq - 1))
				m := &rec
				if k.Key == "SIZE" {
					col.ints[i] = m.Size
				} else {
					col.ints[i] = int64(m.InternalDate)
				}
			}
			needRecs = needRecs || k.Key == "DATE"
		default:
			*col = newTextColumn(len(seqs))
			col.field, _ = recField(k.Key)
			col.reverse = k.Reverse
			needRecs = true
		}
	}
	if needRecs {
		err := c.sortRecs(seqs, func(i int, r *recView) {
			for j, k := range criteria {
				col := &cols[j]
				switch {
				case k.Key == "DATE":
					if r.hasDate {
						col.ints[i] = r.date
					}
				case col.starts != nil:
					col.setString(i, r.fields[col.field])
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	order := sortOrder(cols, len(seqs))
	out := make([]uint32, len(order))
	for i, x := range order {
		out[i] = seqs[x]
	}
	return out, nil
}
